// This client's stage changes (stage_set, stage_follow_lock; docs/protocol.md): sent one at a time,
// each with `expected_version`, the version the user saw when acting, moved past this client's own
// changes still in flight (quick page turns), so that only another presenter's change conflicts.
import { expectedVersion } from "./stage_model.js";

const OWN_VERSIONS_KEPT = 64;

export class StageChanges {
  /**
   * send(event, payload): the request (resolves with the ack); version(): the version of the stage
   * shown now; applied(stage): the stage a change made; conflicted(): a change was refused as
   * `conflict` (another presenter changed the stage first).
   */
  constructor({ send, version, applied, conflicted }) {
    this.send = send;
    this.version = version;
    this.applied = applied;
    this.conflicted = conflicted;
    this.queue = Promise.resolve();
    this.ownVersions = new Set(); // versions this client's own changes made
    this.joins = 0; // join acks so far: a change queued before a rejoin is dropped
  }

  /** A join ack (first join and every reconnect). */
  joined() {
    this.joins += 1;
    this.ownVersions = new Set(); // the server may have restarted and counted again from 0
  }

  /**
   * Send one change after those already queued. Resolves true when applied; false when refused,
   * e.g. `conflict`, or dropped because this client joined again meanwhile.
   */
  change(event, payload) {
    const base = this.version();
    const joins = this.joins;
    const run = async () => {
      if (joins !== this.joins) return false; // rejoined meanwhile: the user now sees another stage
      const expected_version = expectedVersion(base, this.version(), this.ownVersions);
      try {
        const ack = await this.send(event, { ...payload, expected_version });
        if (ack.stage && typeof ack.stage.version === "number") {
          this.ownVersions.add(ack.stage.version);
          for (const v of this.ownVersions) if (v < ack.stage.version - OWN_VERSIONS_KEPT) this.ownVersions.delete(v);
          this.applied(ack.stage);
        }
        return true;
      } catch (err) {
        if (err?.code === "conflict") this.conflicted();
        return false;
      }
    };
    const done = this.queue.then(run, run);
    this.queue = done;
    return done;
  }
}
