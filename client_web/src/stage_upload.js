// Uploading a PDF or image for the stage (hosts and staff): the hidden file input, then one line
// above the stage with the upload's progress, the server's page preparation, and "Show on stage"
// once the document is ready (or why it could not be added).
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";
import { uploadDocument } from "./documents.js";
import { uploadErrorText } from "./stage_model.js";
import { stageButton as button } from "./stage_bar.js";

const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;

function preparationError(doc) {
  return doc.error ? t("documents.notPrepared", { error: doc.error }) : t("documents.notPreparedUnknown");
}

/** The line's text and progress bar for upload `up`; p: its pages prepared so far ({done, total}). */
function uploadText(up, p) {
  const name = up.name;
  if (up.phase === "uploading") {
    const percent = formatNumber(Math.round(up.fraction * 100) / 100, { style: "percent", maximumFractionDigits: 0 });
    return {
      text: t("documents.uploading", { name, percent }),
      bar: h("progress", { max: 1, value: up.fraction, attrs: { "aria-label": t("documents.uploadProgress") } }),
    };
  }
  if (up.phase === "processing") {
    return {
      text: p
        ? t("documents.preparingFileProgress", { name, done: formatNumber(p.done), total: formatNumber(p.total) })
        : t("documents.preparingFile", { name }),
      bar: p
        ? h("progress", { max: p.total || 1, value: p.done, attrs: { "aria-label": t("documents.pagesPrepared") } })
        : h("progress", { attrs: { "aria-label": t("documents.preparingPages") } }),
    };
  }
  if (up.phase === "ready") return { text: t("documents.ready", { name }), bar: null };
  return { text: t("documents.couldNotAdd", { name, error: up.error }), bar: null };
}

export class StageUpload {
  /**
   * progress: document id -> {done, total} (the stage's, kept up to date by it); canManage();
   * roomId(); key() (the session key); closeMenu(); refreshMenu(); added(doc): a document the
   * server accepted, returned as the stage now knows it; setStage(payload): resolves true once made.
   */
  constructor(actions) {
    this.actions = actions;
    this.progress = actions.progress;
    this.current = null; // {name, phase: "uploading" | "processing" | "ready" | "failed", fraction, docId, error}
    this.input = h("input", {
      type: "file",
      class: "visually-hidden",
      accept: ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg",
      dataset: { testid: "stage-upload-input" },
      attrs: { "aria-hidden": "true", tabindex: "-1" },
    });
    this.input.addEventListener("change", () => {
      const file = this.input.files && this.input.files[0];
      this.input.value = "";
      if (file) this.start(file);
    });
    this.el = h("div", { class: "stage-upload", hidden: true, dataset: { testid: "stage-upload" } });
  }

  start(file) {
    if (!this.actions.canManage()) return;
    const up = { name: file.name, phase: "uploading", fraction: 0, docId: null, error: null };
    this.current = up;
    if (file.size > MAX_UPLOAD_BYTES) {
      up.phase = "failed";
      up.error = uploadErrorText("too_large");
      this.render();
      return;
    }
    this.actions.closeMenu();
    this.render();
    uploadDocument({
      roomId: this.actions.roomId(),
      key: this.actions.key(),
      file,
      onProgress: (fraction) => {
        up.fraction = fraction;
        if (this.current === up) this.render();
      },
    })
      .then((doc) => {
        up.docId = doc.id;
        const known = this.actions.added(doc);
        up.phase = known?.status === "ready" ? "ready" : known?.status === "failed" ? "failed" : "processing";
        if (up.phase === "failed") up.error = preparationError(known);
        if (this.current === up) this.render();
        this.actions.refreshMenu();
      })
      .catch((err) => {
        up.phase = "failed";
        up.error = uploadErrorText(err.code, err.message);
        if (this.current === up) this.render();
      });
  }

  /** The document list changed: the uploaded document may be ready now, or have failed. */
  documentsChanged(documents) {
    const up = this.current;
    if (!up || !up.docId) return;
    const doc = documents.find((d) => d.id === up.docId);
    if (doc?.status === "ready") up.phase = "ready";
    else if (doc?.status === "failed") {
      up.phase = "failed";
      up.error = preparationError(doc);
    }
    this.render();
  }

  /** The server prepared more pages of `documentId`. */
  progressed(documentId) {
    if (this.current && this.current.docId === documentId && this.current.phase !== "ready") {
      this.current.phase = "processing";
      this.render();
    }
  }

  render() {
    const up = this.current;
    this.el.hidden = !up;
    if (!up) return this.el.replaceChildren();
    const dismiss = button("×", { class: "stage-button small stage-upload-dismiss", attrs: { "aria-label": t("common.dismiss") } });
    dismiss.addEventListener("click", () => {
      this.current = null;
      this.render();
    });
    this.el.dataset.phase = up.phase;
    this.el.classList.toggle("error", up.phase === "failed");
    this.el.setAttribute("role", up.phase === "failed" ? "alert" : "status");
    const { text, bar } = uploadText(up, this.progress.get(up.docId));
    const action = up.phase === "ready" ? this.showButton(up) : null;
    this.el.replaceChildren(...[h("span", { class: "stage-upload-text", text }), bar, action, dismiss].filter(Boolean));
  }

  /** "Show on stage" for a ready upload; the line goes once it is on the stage. */
  showButton(up) {
    const action = button(t("documents.showOnStage"), { class: "stage-button primary", dataset: { testid: "upload-show" } });
    action.addEventListener("click", () =>
      this.actions.setStage({ kind: "document", document_id: up.docId, page: 0 }).then((ok) => {
        if (ok && this.current === up) {
          this.current = null;
          this.render();
        }
      }),
    );
    return action;
  }
}
