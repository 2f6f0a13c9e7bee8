// Documents on the stage: the page viewer (page image, thumbnails, page buttons, the presenter's
// pointer) and the upload call.
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";
import { withKey, fitBox, relativePoint, throttle } from "./stage_model.js";

export const POINTER_HZ = 15;

export class DocumentView {
  /**
   * handlers: onGoto(page) (a page button, arrow key or thumbnail), onPointer(x, y) (x, y null when
   * the pointer leaves the page).
   */
  constructor({ onGoto, onPointer }) {
    this.onGoto = onGoto;
    this.doc = null;
    this.page = null;
    this.key = "";
    this.loadToken = 0;
    this.pointerMode = false;
    this.sendPointer = throttle((x, y) => onPointer(x, y), Math.round(1000 / POINTER_HZ));

    this.img = h("img", { class: "doc-page", alt: "", dataset: { testid: "doc-page" }, attrs: { draggable: "false" } });
    this.dot = h("span", { class: "doc-pointer", hidden: true, attrs: { "aria-hidden": "true" } });
    this.frame = h("div", { class: "doc-frame" }, this.img, this.dot);
    this.status = h("p", { class: "doc-status", attrs: { role: "status" } });
    this.area = h("div", { class: "doc-area" }, this.frame, this.status);
    this.prev = h("button", { type: "button", class: "stage-button doc-prev", text: t("documents.previous"), attrs: { "aria-label": t("documents.previousPage") } });
    this.next = h("button", { type: "button", class: "stage-button doc-next", text: t("documents.next"), attrs: { "aria-label": t("documents.nextPage") } });
    this.pageLabel = h("span", { class: "doc-page-label", attrs: { "aria-live": "polite" } });
    this.nav = h("div", { class: "doc-nav" }, this.prev, this.pageLabel, this.next);
    this.thumbs = h("div", { class: "doc-thumbs", attrs: { role: "list", "aria-label": t("documents.thumbnails") } });
    this.el = h("div", { class: "doc-view" }, this.area, this.nav, this.thumbs);

    this.prev.addEventListener("click", () => this.goto(this.page - 1));
    this.next.addEventListener("click", () => this.goto(this.page + 1));
    this.thumbs.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-page]");
      if (button) this.goto(Number(button.dataset.page));
    });
    this.frame.addEventListener("pointermove", (event) => this.onMove(event));
    this.frame.addEventListener("pointerleave", () => {
      if (!this.pointerMode) return;
      this.sendPointer(null, null);
      this.dot.hidden = true;
    });
    this.resizeObserver = new ResizeObserver(() => this.layout());
    this.resizeObserver.observe(this.area);
  }

  goto(page) {
    if (!this.doc || !Number.isInteger(page) || page < 0 || page >= this.pageCount()) return;
    if (page !== this.page) this.onGoto(page);
  }

  pageCount() {
    return this.doc ? this.doc.pages.length || this.doc.page_count || 0 : 0;
  }

  /**
   * Show `page` of `doc`. options: key (session key for the image URLs), navigable (page buttons
   * and thumbnails), canPoint (the presenter may turn pointer mode on).
   */
  show(doc, page, { key, navigable, thumbnails = navigable }) {
    const docChanged = !this.doc || this.doc.id !== doc.id || this.doc.pages.length !== doc.pages.length || this.key !== key;
    this.doc = doc;
    this.key = key;
    const count = this.pageCount();
    this.nav.hidden = count <= 1 && !navigable;
    this.prev.hidden = this.next.hidden = !navigable;
    this.prev.disabled = page <= 0;
    this.next.disabled = page >= count - 1;
    this.pageLabel.textContent = t("documents.pageOf", { page: formatNumber(page + 1), total: formatNumber(count) });
    this.thumbs.hidden = !thumbnails || count <= 1;
    if (docChanged) this.buildThumbs();
    for (const b of this.thumbs.children) {
      const current = Number(b.dataset.page) === page;
      b.classList.toggle("current", current);
      if (current) b.setAttribute("aria-current", "page");
      else b.removeAttribute("aria-current");
    }
    if (docChanged || page !== this.page) {
      this.page = page;
      this.setPointer(null, null);
      this.load(doc, page, key);
      const current = this.thumbs.querySelector(".current");
      if (current && !this.thumbs.hidden) current.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
  }

  buildThumbs() {
    const doc = this.doc;
    this.thumbs.replaceChildren(
      ...doc.pages.map((p) =>
        h(
          "button",
          {
            type: "button",
            class: "doc-thumb",
            dataset: { page: String(p.index) },
            attrs: { role: "listitem", "aria-label": t("documents.page", { page: formatNumber(p.index + 1) }) },
          },
          h("img", { src: withKey(p.thumb, this.key), alt: "", loading: "lazy", attrs: { draggable: "false" } }),
          h("span", { class: "doc-thumb-number", text: formatNumber(p.index + 1) }),
        ),
      ),
    );
  }

  /** Load the page image off-screen and swap it in once decoded (no blank flash between pages). */
  load(doc, page, key) {
    const token = ++this.loadToken;
    const info = doc.pages[page];
    if (!info) {
      this.status.textContent = t("documents.pageMissing");
      return;
    }
    this.pageSize = { width: info.width, height: info.height };
    this.layout();
    const img = h("img", {
      class: "doc-page",
      alt: t("documents.pageAlt", { title: doc.title, page: formatNumber(page + 1), total: formatNumber(this.pageCount()) }),
      dataset: { testid: "doc-page-loading" },
      attrs: { draggable: "false" },
    });
    const slow = setTimeout(() => token === this.loadToken && (this.status.textContent = t("documents.loading")), 400);
    img.onload = () => {
      clearTimeout(slow);
      if (token !== this.loadToken) return;
      img.dataset.testid = "doc-page";
      img.dataset.page = String(page);
      this.img.replaceWith(img);
      this.img = img;
      this.status.textContent = "";
    };
    img.onerror = () => {
      clearTimeout(slow);
      if (token !== this.loadToken) return;
      this.status.textContent = t("documents.loadFailed");
    };
    img.src = withKey(info.image, key);
  }

  layout() {
    if (!this.pageSize) return;
    const box = fitBox(this.area.clientWidth, this.area.clientHeight, this.pageSize.width, this.pageSize.height);
    this.frame.style.width = `${box.width}px`;
    this.frame.style.height = `${box.height}px`;
  }

  setPointerMode(on) {
    this.pointerMode = on;
    this.frame.classList.toggle("pointing", on);
    if (!on) {
      this.sendPointer.cancel();
      this.setPointer(null, null);
    }
  }

  onMove(event) {
    if (!this.pointerMode) return;
    const point = relativePoint(event.clientX, event.clientY, this.img.getBoundingClientRect());
    if (!point) return;
    this.setPointer(point.x, point.y);
    this.sendPointer(point.x, point.y);
  }

  /** The presenter's pointer at (x, y) of the page (0..1), hidden for null. */
  setPointer(x, y) {
    const visible = typeof x === "number" && typeof y === "number";
    this.dot.hidden = !visible;
    if (visible) {
      this.dot.style.left = `${x * 100}%`;
      this.dot.style.top = `${y * 100}%`;
    }
  }

  destroy() {
    this.sendPointer.cancel();
    this.resizeObserver.disconnect();
    this.el.remove();
  }
}

/**
 * POST the file to /api/rooms/{room}/documents. onProgress(fraction) follows the upload. Resolves
 * with the Document; rejects with {code, message, status}.
 */
export function uploadDocument({ roomId, key, file, title, onProgress = () => {} }) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    if (title) form.append("title", title);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/rooms/${encodeURIComponent(roomId)}/documents`);
    xhr.setRequestHeader("Authorization", `Bearer ${key}`);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onerror = () => reject({ code: "network", message: t("documents.unreachable"), status: 0 });
    xhr.ontimeout = xhr.onerror;
    xhr.onload = () => {
      const body = xhr.response && typeof xhr.response === "object" ? xhr.response : {};
      if (xhr.status >= 200 && xhr.status < 300 && body.document) resolve(body.document);
      else {
        const error = body.error || {};
        reject({ code: error.code || `http_${xhr.status}`, message: error.message || "", status: xhr.status });
      }
    };
    xhr.send(form);
  });
}
