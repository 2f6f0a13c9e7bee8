// The chat panel: history from the join ack, live `chat_message` events, `chat_send`.
// Message text is only ever set with textContent (docs/protocol.md: ChatMessage.text is plain text).
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { shortTime } from "./ui.js";
import { t } from "./i18n.js";

const MAX_MESSAGES = 500;
const TEXT_MAX = 2000;

export class ChatPanel {
  /** send(text) -> Promise; canSend: false for viewers (read-only). */
  constructor({ send, canSend = true, onUnread = () => {} }) {
    this.send = send;
    this.onUnread = onUnread;
    this.unread = 0;
    this.visible = false;
    this.ids = new Set();
    this.list = h("ol", { class: "chat-list", attrs: { "aria-label": t("chat.messages"), "aria-live": "polite" } });
    this.empty = h("p", { class: "chat-empty", text: t("chat.empty") });
    this.input = h("textarea", {
      class: "chat-input",
      rows: 1,
      maxLength: TEXT_MAX,
      placeholder: t("chat.placeholder"),
      attrs: { "aria-label": t("chat.inputLabel"), enterkeyhint: "send" },
    });
    this.sendBtn = h(
      "button",
      { type: "submit", class: "chat-send", attrs: { "aria-label": t("chat.send") }, title: t("chat.sendTitle") },
      icon("send"),
    );
    this.form = h("form", { class: "chat-form" }, this.input, this.sendBtn);
    this.readOnly = h("p", { class: "chat-readonly", text: t("chat.readOnly"), hidden: true });
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.autosize());
    this.el = h("div", { class: "chat" }, this.empty, this.list, this.form, this.readOnly);
    this.setCanSend(canSend);
  }

  setCanSend(canSend) {
    this.form.hidden = !canSend;
    this.readOnly.hidden = canSend;
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text || this.sending) return;
    this.sending = true;
    this.sendBtn.disabled = true;
    try {
      const ack = await this.send(text);
      this.input.value = "";
      this.autosize();
      if (ack && ack.message) this.add(ack.message);
    } catch {
      /* the error is shown as a toast (the server's `error` event); the text stays for a retry */
    } finally {
      this.sending = false;
      this.sendBtn.disabled = false;
      this.input.focus();
    }
  }

  /** Replace everything with the join ack's history (oldest first). */
  setHistory(messages) {
    this.ids.clear();
    this.list.replaceChildren();
    for (const m of messages || []) this.add(m, { history: true });
    this.unread = 0;
    this.onUnread(0);
  }

  add(message, { history = false } = {}) {
    if (!message || typeof message.text !== "string") return;
    if (message.id && this.ids.has(message.id)) return;
    if (message.id) this.ids.add(message.id);
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 60;
    const isSelf = this.selfId && message.participant_id === this.selfId;
    const who = h("span", { class: "chat-name" });
    who.textContent = isSelf ? t("common.you") : message.name || t("chat.someone");
    if (!isSelf && message.name) who.setAttribute("translate", "no");
    const role = { host: t("roles.host"), staff: t("roles.staff") }[message.role];
    const item = h(
      "li",
      { class: `chat-message${isSelf ? " own" : ""}`, dataset: { messageId: message.id || "" } },
      h("div", { class: "chat-meta" }, who, role ? h("span", { class: "chat-role", text: role }) : null,
        h("time", { class: "chat-time", text: shortTime(message.sent_at), attrs: { datetime: message.sent_at || "" } })),
    );
    const body = h("p", { class: "chat-text", attrs: { translate: "no" } });
    body.textContent = message.text; // never innerHTML
    item.append(body);
    this.list.append(item);
    while (this.list.children.length > MAX_MESSAGES) this.list.firstElementChild.remove();
    this.empty.hidden = this.list.children.length > 0;
    if (nearBottom || isSelf || history) this.list.scrollTop = this.list.scrollHeight;
    if (!history && !isSelf && !this.visible) {
      this.unread++;
      this.onUnread(this.unread);
    }
  }

  setVisible(visible) {
    this.visible = visible;
    if (visible) {
      this.unread = 0;
      this.onUnread(0);
      this.list.scrollTop = this.list.scrollHeight;
    }
  }
}
