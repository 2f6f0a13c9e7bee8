// The start page: create a room and hand out its invite links.
import { createRoom } from "./api.js";
import { h, icon, copyText } from "./dom.js";

const TITLE_MAX = 120;

function linkRow({ id, label, hint, url }) {
  const input = h("input", {
    id,
    type: "text",
    readOnly: true,
    value: url,
    class: "link-input",
    attrs: { "aria-describedby": `${id}-hint`, spellcheck: "false" },
  });
  input.addEventListener("focus", () => input.select());
  const copyLabel = h("span", { text: "Copy" });
  const copyBtn = h(
    "button",
    {
      type: "button",
      class: "button button-secondary copy-button",
      dataset: { testid: `copy-${id}` },
      attrs: { "aria-label": `Copy ${label.toLowerCase()}` },
    },
    icon("copy"),
    copyLabel,
  );
  let resetTimer = 0;
  copyBtn.addEventListener("click", async () => {
    const ok = await copyText(url);
    copyBtn.replaceChildren(icon(ok ? "check" : "alert"), copyLabel);
    copyLabel.textContent = ok ? "Copied" : "Select and copy";
    copyBtn.classList.toggle("copied", ok);
    if (!ok) input.select();
    clearTimeout(resetTimer);
    resetTimer = setTimeout(() => {
      copyBtn.replaceChildren(icon("copy"), copyLabel);
      copyLabel.textContent = "Copy";
      copyBtn.classList.remove("copied");
    }, 2500);
  });
  return h(
    "div",
    { class: "link-row" },
    h("label", { class: "field-label", htmlFor: id, text: label }),
    h("p", { id: `${id}-hint`, class: "field-hint", text: hint }),
    h("div", { class: "link-field" }, input, copyBtn),
  );
}

function renderCreated(card, { room, links }, onAgain) {
  const heading = h("h2", { id: "created-title", text: "Your meeting is ready", attrs: { tabindex: "-1" } });
  card.replaceChildren(
    h(
      "section",
      { class: "created", attrs: { "aria-labelledby": "created-title" } },
      heading,
      h("p", { class: "created-room" }, h("span", { class: "eyebrow", text: "Meeting" }), h("strong", { text: room.title })),
      linkRow({
        id: "host-link",
        label: "Host link",
        hint: "For you (the chair). Keep it private: it grants host rights.",
        url: links.host,
      }),
      linkRow({
        id: "participant-link",
        label: "Participant link",
        hint: "Send this to the other cities and guests.",
        url: links.participant,
      }),
      h(
        "div",
        { class: "created-actions" },
        h(
          "a",
          { class: "button button-primary button-large", href: links.host, dataset: { testid: "open-host" } },
          "Open as host",
        ),
        h("button", { type: "button", class: "button button-ghost", text: "Create another meeting", on: { click: onAgain } }),
      ),
    ),
  );
  heading.focus();
}

function renderForm(card) {
  const input = h("input", {
    id: "meeting-title",
    name: "title",
    type: "text",
    required: true,
    maxLength: TITLE_MAX,
    placeholder: "e.g. Regional flood coordination",
    autocomplete: "off",
    attrs: { "aria-describedby": "meeting-title-error" },
  });
  const error = h("p", { id: "meeting-title-error", class: "field-error", attrs: { "aria-live": "polite" } });
  const submit = h("button", {
    type: "submit",
    id: "create-room",
    class: "button button-primary button-large",
    text: "Create room",
    dataset: { testid: "create-room" },
  });
  const form = h(
    "form",
    { class: "create-form", noValidate: true, attrs: { "aria-labelledby": "create-title" } },
    h("h2", { id: "create-title", text: "Start a meeting" }),
    h("p", { class: "lead", text: "Create a room, then share the participant link. Nothing to install: it runs in the browser on phones and laptops." }),
    h("label", { class: "field-label", htmlFor: "meeting-title", text: "Meeting title" }),
    input,
    error,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = input.value.trim();
    if (!title) {
      error.textContent = "Please give the meeting a title.";
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      const created = await createRoom(title);
      renderCreated(card, created, () => {
        renderForm(card);
      });
    } catch (err) {
      error.textContent = err.message || "The room could not be created.";
      submit.disabled = false;
      submit.textContent = "Create room";
    }
  });
  card.replaceChildren(form);
  input.focus();
}

export function showStart(root) {
  const card = h("div", { class: "card start-card" });
  root.replaceChildren(
    h(
      "div",
      { class: "start" },
      h(
        "header",
        { class: "site-header" },
        h("span", { class: "brand-mark" }, icon("hall")),
        h("span", { class: "brand-name", text: "Sitroom" }),
      ),
      h(
        "div",
        { class: "start-body" },
        h(
          "section",
          { class: "start-intro" },
          h("p", { class: "eyebrow", text: "Video conferencing for city governments" }),
          h("h1", { text: "Meet the region, from the mayor's office." }),
          h(
            "p",
            { class: "lead" },
            "Sitroom runs on your own server. Invite other cities with one link; they join from a browser.",
          ),
        ),
        card,
      ),
      h("footer", { class: "site-footer", text: "Sitroom · self-hosted" }),
    ),
  );
  renderForm(card);
}
