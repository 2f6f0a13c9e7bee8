"""Errors raised to the signaling layer."""


class SdpError(ValueError):
    """The SDP could not be parsed or negotiated. Nothing was changed."""


class StaleRevision(Exception):
    """A subscribe answer for an offer that is not the outstanding one."""
