// Entry point: picks the page by <body data-page> and exposes window.sitroom for tests.
import { showStart } from "./start.js";
import { showRoom } from "./room.js";
import { showConsole } from "./console.js";
import { showArchive } from "./archive.js";
import { initI18n } from "./i18n.js";

const sitroom = {
  meeting: null,
  get state() {
    return this.meeting ? this.meeting.state : null;
  },
  selfId() {
    return this.meeting ? this.meeting.selfId() : null;
  },
  get pcs() {
    return this.meeting ? this.meeting.pcs : { publish: null, subscribe: null };
  },
  /** The shared stage as this client sees it (a copy; stage.js). */
  get stage() {
    return this.meeting?.stageView ? this.meeting.stageView.snapshot() : null;
  },
};
Object.defineProperty(window, "sitroom", { value: sitroom, configurable: false, writable: false });

function boot() {
  initI18n(); // the saved language, else the browser's
  const root = document.getElementById("app");
  const page = document.body.dataset.page;
  if (page === "room") showRoom(root, sitroom);
  else if (page === "console") showConsole(root);
  else if (page === "archive") showArchive(root, sitroom);
  else showStart(root);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
