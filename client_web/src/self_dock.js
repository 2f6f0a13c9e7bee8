// Your own video on a phone: a small view in a corner of the gallery, moved by dragging it (it
// snaps to the nearest corner) or with its button (the next corner), as in Zoom and Jitsi. The
// corner is remembered on this device.
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";

const CORNERS = ["br", "bl", "tl", "tr"];
const KEY = "sitroom.selfCorner";
const DRAG_THRESHOLD_PX = 6;

function rememberedCorner() {
  try {
    const corner = localStorage.getItem(KEY);
    return CORNERS.includes(corner) ? corner : "br";
  } catch {
    return "br";
  }
}

/** The corner nearest to (x, y) in a w x h box: "tl" | "tr" | "bl" | "br". */
export function nearestCorner(x, y, w, h) {
  return `${y < h / 2 ? "t" : "b"}${x < w / 2 ? "l" : "r"}`;
}

export class SelfDock {
  /** container: the gallery (the dock is placed in it, over the tiles). */
  constructor(container) {
    this.container = container;
    this.tile = null;
    this.corner = rememberedCorner();
    this.move = h("button", {
      type: "button",
      class: "self-dock-move",
      dataset: { testid: "self-dock-move" },
      attrs: { "aria-label": t("gallery.moveSelfView") },
      title: t("gallery.moveSelfView"),
      on: { click: () => this.setCorner(CORNERS[(CORNERS.indexOf(this.corner) + 1) % CORNERS.length]) },
    }, icon("move"));
    this.el = h("div", { class: "self-dock", hidden: true, dataset: { testid: "self-dock", corner: this.corner } }, this.move);
    this.el.addEventListener("pointerdown", (e) => this.startDrag(e));
  }

  /** Hold `tile` (your own Tile) in the dock, or nothing (null: it goes back to the grid). */
  hold(tile) {
    if (tile === this.tile && (!tile || tile.el.parentNode === this.el)) return;
    this.tile = tile;
    this.el.hidden = !tile;
    if (tile) this.el.insertBefore(tile.el, this.move);
    else for (const child of [...this.el.children]) if (child !== this.move) child.remove();
  }

  setCorner(corner) {
    this.corner = corner;
    this.el.dataset.corner = corner;
    try {
      localStorage.setItem(KEY, corner);
    } catch {
      /* private mode: this page only */
    }
  }

  startDrag(event) {
    if (event.button !== 0 || event.target.closest("button")) return;
    const box = this.container.getBoundingClientRect();
    const self = this.el.getBoundingClientRect();
    const start = { x: event.clientX, y: event.clientY, left: self.left - box.left, top: self.top - box.top };
    let dragging = false;
    const onMove = (e) => {
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (!dragging && Math.hypot(dx, dy) < DRAG_THRESHOLD_PX) return;
      dragging = true;
      this.el.classList.add("dragging");
      const left = Math.max(0, Math.min(box.width - self.width, start.left + dx));
      const top = Math.max(0, Math.min(box.height - self.height, start.top + dy));
      this.el.style.transform = `translate(${left - start.left}px, ${top - start.top}px)`;
    };
    const onUp = (e) => {
      this.el.removeEventListener("pointermove", onMove);
      this.el.removeEventListener("pointerup", onUp);
      this.el.removeEventListener("pointercancel", onUp);
      this.el.classList.remove("dragging");
      this.el.style.transform = "";
      if (!dragging) return;
      const centre = { x: start.left + self.width / 2 + (e.clientX - start.x), y: start.top + self.height / 2 + (e.clientY - start.y) };
      this.setCorner(nearestCorner(centre.x, centre.y, box.width, box.height));
    };
    this.el.setPointerCapture?.(event.pointerId);
    this.el.addEventListener("pointermove", onMove);
    this.el.addEventListener("pointerup", onUp);
    this.el.addEventListener("pointercancel", onUp);
  }
}
