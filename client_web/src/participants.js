// The others in the meeting (participant_joined, participant_updated, participant_left; updates of
// this participant too) and the tracks received from them: the meeting's state.participants
// (window.sitroom.state), the tiles, the participant count, the People panel, and when each one's
// first video frame was shown.
import { toast } from "./dom.js";
import { t } from "./i18n.js";

export class Participants {
  /** meeting: its state, gallery, controls, stage and collab are kept in step. */
  constructor(meeting) {
    this.meeting = meeting;
  }

  joined(p, { quiet = false } = {}) {
    const m = this.meeting;
    if (!p || !p.id || p.id === m.selfId() || m.state.status !== "joined") return;
    const isNew = !(p.id in m.state.participants);
    m.state.participants[p.id] = p;
    m.gallery.upsert(p);
    const tracks = m.remoteTracks.get(p.id);
    if (tracks) {
      m.gallery.setTracks(p.id, tracks);
      this.watchFirstFrame();
    }
    m.updateControls();
    m.collab.refreshPeople();
    if (isNew && !quiet) toast(p.organisation ? t("people.joinedFrom", { name: p.name, organisation: p.organisation }) : t("people.joined", { name: p.name }));
  }

  updated(p) {
    const m = this.meeting;
    if (!p || !p.id) return;
    if (p.id === m.selfId()) {
      const prevRole = m.state.self?.role;
      m.state.self = { ...m.state.self, ...p };
      if (p.role) m.state.role = p.role;
      if (m.gallery.has(p.id)) m.gallery.upsert(m.selfParticipant(), { isSelf: true });
      m.collab.onSelfUpdated(prevRole);
      return;
    }
    if (!(p.id in m.state.participants)) return;
    m.state.participants[p.id] = { ...m.state.participants[p.id], ...p };
    m.gallery.upsert(m.state.participants[p.id]);
    m.collab.refreshPeople();
  }

  left(p) {
    const m = this.meeting;
    if (!p || !p.id || !(p.id in m.state.participants)) return;
    const who = m.state.participants[p.id];
    delete m.state.participants[p.id];
    m.gallery.remove(p.id);
    m.updateControls();
    m.collab.refreshPeople();
    toast(t("people.left", { name: who.name }));
  }

  /** Every tile goes (a new connection joins again). */
  clear() {
    const m = this.meeting;
    for (const id of Object.keys(m.state.participants)) m.gallery.remove(id);
    m.state.participants = {};
    const self = m.selfId();
    if (self) m.gallery.remove(self);
  }

  /** The tracks received: participant id -> {microphone?, camera?, screen?, receivers}. */
  setTracks(tracks) {
    const m = this.meeting;
    m.remoteTracks = tracks;
    m.state.consumers = m.subscriber ? m.subscriber.consumers : [];
    for (const id of Object.keys(m.state.participants)) {
      m.gallery.setTracks(id, tracks.get(id) || {});
    }
    m.stageView?.onTracks(tracks);
    this.watchFirstFrame();
    m.prefs.schedule();
  }

  /** Record when each participant's first video frame is shown (for tests and diagnostics). */
  watchFirstFrame() {
    const state = this.meeting.state;
    for (const tile of this.meeting.gallery.tiles.values()) {
      if (tile.isSelf || !tile.videoTrack || tile.watchingFrame) continue;
      tile.watchingFrame = true;
      const video = tile.video;
      const mark = () => {
        const now = Date.now();
        if (!state.firstRemoteFrameAt) state.firstRemoteFrameAt = now;
        if (!(tile.id in state.firstFrameAt)) state.firstFrameAt[tile.id] = now;
      };
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(mark);
      else video.addEventListener("loadeddata", mark, { once: true });
    }
  }
}
