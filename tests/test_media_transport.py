"""media/transport.py: the lean SRTP calls behave like pylibsrtp's, and sending goes to the socket."""

from __future__ import annotations

import asyncio
import os
import socket
import struct

import pylibsrtp
import pytest
from pylibsrtp import Policy, Session

from media.transport import socket_sendto, srtp_functions

KEY = bytes(range(44))  # AEAD_AES_256_GCM master key + salt, as aiortc negotiates


def sessions() -> tuple[Session, Session]:
    def make(direction) -> Session:
        return Session(Policy(key=KEY, ssrc_type=direction, srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM))
    return make(Policy.SSRC_ANY_OUTBOUND), make(Policy.SSRC_ANY_INBOUND)


def rtp_packet(seq: int, size: int = 1100) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0x1234) + os.urandom(size)


def test_protect_and_unprotect_match_pylibsrtp():
    sender, receiver = sessions()
    reference_sender, reference_receiver = sessions()
    protect, protect_rtcp, unprotect, unprotect_rtcp = srtp_functions(sender)
    _, _, lean_unprotect, lean_unprotect_rtcp = srtp_functions(reference_receiver)
    for seq in range(5):
        packet = rtp_packet(seq)
        protected = protect(packet)
        assert protected == reference_sender.protect(packet)  # same key, same index: same bytes
        assert receiver.unprotect(protected) == packet
        assert lean_unprotect(protected) == packet
    rtcp = struct.pack("!BBHI", 0x80, 201, 1, 0x1234)
    assert receiver.unprotect_rtcp(protect_rtcp(rtcp)) == rtcp
    assert lean_unprotect_rtcp(reference_sender.protect_rtcp(rtcp)) == rtcp
    assert unprotect is not lean_unprotect and unprotect_rtcp is not lean_unprotect_rtcp


def test_errors_are_pylibsrtp_errors():
    sender, receiver = sessions()
    protect, _, _, _ = srtp_functions(sender)
    _, _, unprotect, _ = srtp_functions(receiver)
    protected = protect(rtp_packet(1))
    assert unprotect(protected)
    with pytest.raises(pylibsrtp.Error):
        unprotect(protected)  # a replay
    tampered = bytearray(protect(rtp_packet(2)))
    tampered[-1] ^= 1
    with pytest.raises(pylibsrtp.Error):
        unprotect(bytes(tampered))
    with pytest.raises(pylibsrtp.Error):  # no room for the trailer in libsrtp's buffer: refused
        protect(rtp_packet(3, size=1500 - 12 - pylibsrtp.SRTP_MAX_TRAILER_LEN + 1))
    assert protect(rtp_packet(4, size=1500 - 12 - pylibsrtp.SRTP_MAX_TRAILER_LEN))
    with pytest.raises(pylibsrtp.Error):
        unprotect(b"\x80" * 2000)


async def test_socket_sendto_writes_to_the_socket_and_refuses_a_closed_transport():
    loop = asyncio.get_running_loop()
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    try:
        sendto = socket_sendto(transport)
        assert sendto is not None and sendto != transport.sendto
        sendto(b"hello", receiver.getsockname())
        assert receiver.recvfrom(100)[0] == b"hello"
    finally:
        transport.close()
        receiver.close()
    await asyncio.sleep(0)
    assert socket_sendto(transport) is None
    assert socket_sendto(None) is None


def test_socket_sendto_falls_back_to_a_transport_without_a_socket():
    class Relay:  # like aioice's TURN transport: no socket of its own, no is_closing()
        def sendto(self, data, addr) -> None:
            pass

    relay = Relay()
    assert socket_sendto(relay) == relay.sendto
