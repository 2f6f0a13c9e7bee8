// The start page: create a room (title, city, planned time) and hand out its invitation; or join a
// meeting with a link or a room code.
import { createRoom, resolveCode, listCities } from "./api.js";
import { h, copyButton } from "./dom.js";
import { icon } from "./icons.js";
import { t, formatDateTime, timeZone, zoneLabel, languageSelect } from "./i18n.js";
import {
  parseJoinInput, invitationText, localInputToIso, DURATIONS, organiserKeyFromHash,
} from "./start_model.js";
import { organiserField, storedOrganiserKey, storeOrganiserKey, takeOrganiserKey } from "./organiser_key.js";

const TITLE_MAX = 120;

/** A read-only link field, labelled for screen readers, with what it is for under the label. */
function linkField({ id, label, hint, url }) {
  const input = h("input", {
    id,
    type: "text",
    readOnly: true,
    value: url,
    class: "link-input",
    attrs: { "aria-describedby": `${id}-hint`, spellcheck: "false", translate: "no" },
  });
  input.addEventListener("focus", () => input.select());
  const field = h("div", { class: "link-row" },
    h("label", { class: "field-label", htmlFor: id, text: label }),
    h("p", { id: `${id}-hint`, class: "field-hint", text: hint }),
    input);
  return { field, input };
}

function whenText(room) {
  if (!room.starts_at) return t("start.created.whenNow");
  const start = formatDateTime(room.starts_at, { dateStyle: "full", timeStyle: "short" });
  const zone = zoneLabel(room.starts_at, "long");
  return room.ends_at
    ? t("start.created.whenRange", { start, end: formatDateTime(room.ends_at, { timeStyle: "short" }), zone })
    : t("start.created.whenAt", { start, zone });
}

function guestCard({ room, links, code }) {
  const { field, input } = linkField({
    id: "participant-link",
    label: t("start.created.participantLink"),
    hint: t("start.created.participantHint"),
    url: links.participant,
  });
  const invitation = () => invitationText({ t, title: room.title, when: whenText(room), link: links.participant, code, origin: location.origin });
  return h("section", { class: "invite-card invite-guests", dataset: { testid: "guest-card" }, attrs: { "aria-labelledby": "guests-title" } },
    h("div", { class: "invite-card-head" },
      h("span", { class: "invite-badge" }, icon("people")),
      h("h3", { id: "guests-title", text: t("start.created.forGuests") })),
    h("p", { class: "room-code-line" },
      h("span", { class: "room-code-label", text: t("start.created.roomCode") }),
      h("strong", { class: "room-code", dataset: { testid: "room-code" }, attrs: { translate: "no" }, text: code })),
    field,
    h("div", { class: "invite-actions" },
      copyButton({ label: t("start.created.copyInvitation"), text: invitation, testid: "copy-invitation", primary: true }),
      copyButton({ label: t("start.created.copyLink"), text: () => links.participant, testid: "copy-participant-link", onFail: () => input.select() }),
      h("a", { class: "button button-ghost", href: links.participant, target: "_blank", rel: "noopener", dataset: { testid: "open-participant" } },
        t("start.created.openAsParticipant"))));
}

function hostCard({ links }) {
  const { field, input } = linkField({
    id: "host-link",
    label: t("start.created.hostLink"),
    hint: t("start.created.hostHint"),
    url: links.host,
  });
  return h("section", { class: "invite-card invite-host", dataset: { testid: "host-card" }, attrs: { "aria-labelledby": "host-title" } },
    h("div", { class: "invite-card-head" },
      h("span", { class: "invite-badge" }, icon("shield")),
      h("h3", { id: "host-title", text: t("start.created.forYou") })),
    field,
    h("div", { class: "invite-actions" },
      h("a", { class: "button button-primary", href: links.host, dataset: { testid: "open-host" } }, t("start.created.openAsHost")),
      copyButton({ label: t("start.created.copyHostLink"), text: () => links.host, testid: "copy-host-link", onFail: () => input.select() })));
}

function renderCreated(card, created, onAgain) {
  const { room } = created;
  const heading = h("h2", { id: "created-title", text: t("start.created.title"), attrs: { tabindex: "-1" } });
  card.replaceChildren(
    h("section", { class: "created", attrs: { "aria-labelledby": "created-title" } },
      heading,
      h("div", { class: "created-room" },
        h("strong", { class: "created-room-title", text: room.title, attrs: { translate: "no" } }),
        h("span", { class: "created-room-when", dataset: { testid: "created-when" }, text: whenText(room) })),
      guestCard(created),
      hostCard(created),
      h("button", { type: "button", class: "button button-ghost created-again", text: t("start.created.another"), on: { click: onAgain } })),
  );
  heading.focus();
}

/** The create form's optional fields: the city (for simulated panels) and the planned time. */
function planFields(cities) {
  const city = h("select", { id: "meeting-city", name: "city", class: "field-select" },
    cities.map((c) => h("option", { value: c.id, text: t(`cities.${c.id}`, { defaultValue: c.name }) })));
  const here = cities.find((c) => c.time_zone === timeZone());
  if (here) city.value = here.id;
  const starts = h("input", { id: "meeting-starts", name: "starts", type: "datetime-local", attrs: { "aria-describedby": "meeting-starts-hint" } });
  const duration = h("select", { id: "meeting-duration", name: "duration", class: "field-select", disabled: true },
    DURATIONS.map((m) => h("option", { value: String(m), text: t("start.create.minutes", { count: m }) })));
  duration.value = "60";
  starts.addEventListener("input", () => (duration.disabled = !starts.value));
  const el = h("div", { class: "plan-fields" },
    cities.length ? h("div", { class: "plan-field" },
      h("label", { class: "field-label", htmlFor: "meeting-city", text: t("start.create.city") }), city) : null,
    h("div", { class: "plan-field" },
      h("label", { class: "field-label", htmlFor: "meeting-starts" }, t("start.create.starts"), " ", h("span", { class: "optional", text: t("common.optional") })),
      starts,
      h("p", { id: "meeting-starts-hint", class: "field-hint", text: t("start.create.startsHint", { zone: zoneLabel(Date.now(), "long") }) })),
    h("div", { class: "plan-field" },
      h("label", { class: "field-label", htmlFor: "meeting-duration", text: t("start.create.duration") }), duration));
  return {
    el,
    values: () => ({
      city: cities.length ? city.value : undefined,
      ...(starts.value ? { starts_at: localInputToIso(starts.value), duration_minutes: Number(duration.value) } : {}),
    }),
  };
}

function renderForm(card, cities) {
  const input = h("input", {
    id: "meeting-title",
    name: "title",
    type: "text",
    required: true,
    maxLength: TITLE_MAX,
    placeholder: t("start.create.titlePlaceholder"),
    autocomplete: "off",
    attrs: { "aria-describedby": "meeting-title-error" },
  });
  const error = h("p", { id: "meeting-title-error", class: "field-error", attrs: { "aria-live": "polite" } });
  const plan = planFields(cities);
  const organiser = organiserField();
  const submit = h("button", {
    type: "submit",
    id: "create-room",
    class: "button button-primary button-large",
    text: t("start.create.submit"),
    dataset: { testid: "create-room" },
  });
  // the organiser console, for a browser that keeps the key (gone with "Forget it")
  const consoleLink = storedOrganiserKey()
    ? h("a", { class: "console-link", href: "/console", dataset: { testid: "console-link" } }, icon("hall"), t("console.openConsole"))
    : null;
  organiser.kept.querySelector("button")?.addEventListener("click", () => consoleLink?.remove());
  const form = h("form", { class: "create-form", noValidate: true, attrs: { "aria-labelledby": "create-title" } },
    h("h2", { id: "create-title", text: t("start.create.title") }),
    h("p", { class: "lead", text: t("start.create.lead") }),
    h("label", { class: "field-label", htmlFor: "meeting-title", text: t("start.create.titleLabel") }),
    input,
    error,
    plan.el,
    organiser.el,
    submit,
    organiser.kept,
    consoleLink);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = input.value.trim();
    if (!title) {
      error.textContent = t("start.create.titleMissing");
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    organiser.clear();
    const key = organiser.key();
    if (!key) return organiser.ask(t("start.create.organiserKeyNeeded"));
    submit.disabled = true;
    submit.textContent = t("start.create.creating");
    try {
      const created = await createRoom({ title, ...plan.values() }, key);
      storeOrganiserKey(key);
      renderCreated(card, created, () => renderForm(card, cities));
    } catch (err) {
      submit.disabled = false;
      submit.textContent = t("start.create.submit");
      if (err.code === "organiser_key_required" || err.code === "organiser_key_invalid") {
        if (key === storedOrganiserKey()) storeOrganiserKey(""); // no longer this server's key
        organiser.ask(t(err.code === "organiser_key_invalid" ? "start.create.organiserKeyWrong" : "start.create.organiserKeyNeeded"));
      } else {
        error.textContent = err.code === "rate_limited" ? t("errors.codes.rate_limited") : err.message || t("start.create.failed");
      }
    }
  });
  card.replaceChildren(form);
  input.focus();
}

/** "Join a meeting": a link (opened as it is) or a room code (looked up, then opened). */
function joinBox() {
  const input = h("input", {
    id: "join-code",
    name: "code",
    type: "text",
    autocomplete: "off",
    placeholder: t("start.join.placeholder"),
    attrs: { "aria-describedby": "join-code-error", spellcheck: "false", autocapitalize: "characters" },
  });
  const error = h("p", { id: "join-code-error", class: "field-error", attrs: { "aria-live": "polite" } });
  const submit = h("button", { type: "submit", class: "button button-secondary", text: t("start.join.submit"), dataset: { testid: "join-code-submit" } });
  const form = h("form", { class: "card join-card", noValidate: true, dataset: { testid: "join-box" }, attrs: { "aria-labelledby": "join-title" } },
    h("h2", { id: "join-title", text: t("start.join.title") }),
    h("label", { class: "field-label", htmlFor: "join-code", text: t("start.join.label") }),
    h("div", { class: "join-row" }, input, submit),
    error);
  const fail = (text) => {
    error.textContent = text;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const parsed = parseJoinInput(input.value, location.origin);
    if (parsed.kind === "link") return location.assign(parsed.url);
    if (parsed.kind !== "code") return fail(t(parsed.kind === "empty" ? "start.join.empty" : "start.join.invalid"));
    submit.disabled = true;
    try {
      const found = await resolveCode(parsed.code);
      location.assign(found.link);
    } catch (err) {
      fail(err.code === "invalid_code" ? t("start.join.notFound")
        : err.code === "network" ? t("errors.network")
        : err.code === "rate_limited" ? t("errors.codes.rate_limited") : err.message);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

let watchingHash = false;

export async function showStart(root) {
  takeOrganiserKey();
  if (!watchingHash) {
    // The organiser link pasted into a tab that already shows this page: no reload, only a new hash.
    watchingHash = true;
    window.addEventListener("hashchange", () => {
      if (organiserKeyFromHash(location.hash).key) showStart(root);
    });
  }
  document.title = t("start.pageTitle");
  const card = h("div", { class: "card start-card" });
  root.replaceChildren(
    h("div", { class: "start" },
      h("header", { class: "site-header" },
        h("span", { class: "brand-mark" }, icon("hall")),
        h("span", { class: "brand-name", text: "Sitroom", attrs: { translate: "no" } }),
        h("label", { class: "header-language" },
          h("span", { class: "visually-hidden", text: t("common.language") }),
          languageSelect(h, { id: "start-language", onChange: () => showStart(root) }))),
      h("main", { class: "start-body" },
        h("section", { class: "start-intro" },
          h("p", { class: "eyebrow", text: t("start.tagline") }),
          h("h1", { text: t("start.heading") }),
          h("p", { class: "lead", text: t("start.lead") }),
          joinBox()),
        card),
      h("footer", { class: "site-footer", text: t("start.footer") })),
  );
  let cities = [];
  try {
    cities = (await listCities()).cities || [];
  } catch {
    cities = []; // the form works without the city field
  }
  renderForm(card, cities);
}
