// Coming straight back into the meeting after a reload (a language change reloads the page): the
// choices and the resume key wait in sessionStorage for a minute; room.js skips the pre-join.
const REJOIN_KEY = "sitroom.rejoin";
const REJOIN_WITHIN_MS = 60_000;

/**
 * Leave for a moment and come straight back in as the same person (a language change reloads the
 * page): the choices and the resume key wait in sessionStorage for a minute.
 */
export function reloadAndRejoin(meeting) {
  try {
    sessionStorage.setItem(REJOIN_KEY, JSON.stringify(rejoinState(meeting)));
  } catch {
    /* without storage the pre-join comes back, in the new language */
  }
  location.reload();
}

function rejoinState(meeting) {
  const c = meeting.choices;
  return {
    roomId: meeting.state.roomId, at: Date.now(), resumeKey: meeting.resumeKey,
    name: c.name, organisation: c.organisation, audioOn: meeting.audioOn, videoOn: meeting.videoOn,
    speakerId: c.speakerId || "",
  };
}

/**
 * The same, across to another node of this Sitroom (server/cluster.py: the meeting is held there):
 * another origin has its own storage, so the state travels in the new page's fragment, which
 * never reaches a server and which the page removes at once (takeRejoin).
 */
export function rejoinFragment(meeting) {
  return `rejoin=${encodeURIComponent(JSON.stringify(rejoinState(meeting)))}`;
}

function fromFragment() {
  const match = /^#rejoin=(.+)$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(history.state, "", location.pathname + location.search);
  return JSON.parse(decodeURIComponent(match[1]));
}

export function takeRejoin(roomId) {
  try {
    const saved = fromFragment() || JSON.parse(sessionStorage.getItem(REJOIN_KEY) || "null");
    sessionStorage.removeItem(REJOIN_KEY);
    if (saved && saved.roomId === roomId && Date.now() - saved.at < REJOIN_WITHIN_MS && saved.name) return saved;
  } catch {
    /* nothing saved */
  }
  return null;
}
