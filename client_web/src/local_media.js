// This participant's microphone and camera during the meeting: switched on and off by the user
// (the toggles, M and V), turned off by a host (collab.js says whether the user may switch them on
// again), and each change shown (controls, own tile) and told to the server (media_state).
// Functions of the meeting `m` (meeting.js), whose audioOn, videoOn and media they change.

export function toggleMic(m) {
  if (!m.media.audioTrack || m.state.status === "left") return;
  if (!m.audioOn && m.collab && !m.collab.mayUnmute("audio")) return;
  m.audioOn = !m.audioOn;
  m.media.audioTrack.enabled = m.audioOn;
  localMediaChanged(m);
}

export function toggleCamera(m) {
  if (!m.media.videoTrack || m.state.status === "left") return;
  if (!m.videoOn && m.collab && !m.collab.mayUnmute("video")) return;
  m.videoOn = !m.videoOn;
  m.media.videoTrack.enabled = m.videoOn;
  localMediaChanged(m);
}

/** A host muted this participant's microphone ("audio") or camera ("video"). */
export function forceLocalMute(m, kind) {
  if (kind === "audio" && m.audioOn) {
    m.audioOn = false;
    if (m.media.audioTrack) m.media.audioTrack.enabled = false;
  } else if (kind === "video" && m.videoOn) {
    m.videoOn = false;
    if (m.media.videoTrack) m.media.videoTrack.enabled = false;
  } else {
    return;
  }
  localMediaChanged(m);
}

/** After a change: the state (window.sitroom.state), the controls, the own tile, the server. */
export function localMediaChanged(m) {
  m.state.audioMuted = !m.audioOn;
  m.state.videoMuted = !m.videoOn;
  m.updateControls();
  if (m.state.self && m.gallery.has(m.state.self.id)) {
    m.gallery.upsert(m.selfParticipant(), { isSelf: true });
  }
  if (m.state.status === "joined") sendMediaState(m);
}

export function sendMediaState(m) {
  const session = m.session;
  m.conn
    .request("media_state", { audio_muted: !m.audioOn, video_muted: !m.videoOn })
    .then((ack) => {
      if (session === m.session && ack.self) m.state.self = { ...m.state.self, ...ack.self };
    })
    .catch(() => {
      /* reported through the `error` event; the next change or reconnect sends it again */
    });
}
