// Coming straight back into the meeting after a reload (a language change reloads the page): the
// choices and the resume key wait in sessionStorage for a minute; room.js skips the pre-join.
const REJOIN_KEY = "sitroom.rejoin";
const REJOIN_WITHIN_MS = 60_000;

/**
 * Leave for a moment and come straight back in as the same person (a language change reloads the
 * page): the choices and the resume key wait in sessionStorage for a minute.
 */
export function reloadAndRejoin(meeting) {
  const c = meeting.choices;
  try {
    sessionStorage.setItem(REJOIN_KEY, JSON.stringify({
      roomId: meeting.state.roomId, at: Date.now(), resumeKey: meeting.resumeKey,
      name: c.name, organisation: c.organisation, audioOn: meeting.audioOn, videoOn: meeting.videoOn,
      speakerId: c.speakerId || "",
    }));
  } catch {
    /* without storage the pre-join comes back, in the new language */
  }
  location.reload();
}

export function takeRejoin(roomId) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(REJOIN_KEY) || "null");
    sessionStorage.removeItem(REJOIN_KEY);
    if (saved && saved.roomId === roomId && Date.now() - saved.at < REJOIN_WITHIN_MS && saved.name) return saved;
  } catch {
    /* nothing saved */
  }
  return null;
}
