// The organiser console (/console): schedule a meeting with its delegations, and the organisation's
// meetings (upcoming, past, unscheduled rooms) with each delegation's link, invitation and .ics, the
// host link, "Open now", a past meeting's record and archive, and how long its record is kept. Every
// call takes the organiser key.
import {
  scheduleMeeting, listMeetings, getMeeting, openMeeting, fetchFile, listCities, setRetention,
} from "./api.js";
import { h, copyButton } from "./dom.js";
import { icon } from "./icons.js";
import { t, language, timeZone, zoneLabel } from "./i18n.js";
import { siteHeader } from "./site_header.js";
import { DURATIONS } from "./start_model.js";
import {
  DELEGATION_ROLES, timeZoneList, defaultStart, meetingBody, errorField, plainMessage, delegationField,
  errorKind, formatInZone, RETENTION_CHOICES, retentionDays, retentionLabel,
} from "./console_model.js";
import { organiserField, storedOrganiserKey, storeOrganiserKey, takeOrganiserKey } from "./organiser_key.js";

const TITLE_MAX = 120;
const AGENDA_MAX = 4000;

/** What a refusal says in plain words (the form's own field errors aside). */
function refusalText(err) {
  const kind = errorKind(err);
  if (kind === "rate") return t("console.errors.rateLimited");
  if (kind === "network") return t("errors.network");
  return err.message || t("console.errors.failed");
}

/** Save a downloaded blob under its name (an <a download> on an object URL). */
function saveBlob({ blob, filename }) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** A button that fetches a file with the organiser key and saves it; errors under it. */
function downloadButton({ label, path, fallback, testid, ctx }) {
  const error = h("p", { class: "field-error", attrs: { "aria-live": "polite" } });
  const btn = h("button", { type: "button", class: "button button-secondary", dataset: { testid } }, icon("link"), h("span", { text: label }));
  btn.addEventListener("click", async () => {
    error.textContent = "";
    btn.disabled = true;
    try {
      saveBlob(await fetchFile(path, ctx.key(), fallback));
    } catch (err) {
      if (errorKind(err) === "key") ctx.askKey(err);
      else error.textContent = refusalText(err);
    } finally {
      btn.disabled = false;
    }
  });
  return { btn, error };
}

function zoneSelect(id, zones, value, extra = {}) {
  const select = h("select", { id, class: "field-select", ...extra },
    zones.map((z) => h("option", { value: z, text: z.replace(/_/g, " "), attrs: { translate: "no" } })));
  select.value = value;
  return select;
}

function field(id, label, control, { hint, optional = false } = {}) {
  const error = h("p", { id: `${id}-error`, class: "field-error", attrs: { "aria-live": "polite" } });
  control.setAttribute("aria-describedby", [hint ? `${id}-hint` : "", `${id}-error`].join(" ").trim());
  const el = h("div", { class: "console-field", dataset: { field: id } },
    h("label", { class: "field-label", htmlFor: id }, label, optional ? [" ", h("span", { class: "optional", text: t("common.optional") })] : null),
    hint ? h("p", { id: `${id}-hint`, class: "field-hint", text: hint }) : null,
    control,
    error);
  return { el, control, error };
}

/** One delegation row: name, city, time zone, role, seats, and a remove button. */
function delegationRow(zones, zone, onRemove) {
  const n = delegationRow.next = (delegationRow.next || 0) + 1;
  const name = field(`deleg-${n}-name`, t("console.form.delegationName"),
    h("input", { type: "text", maxLength: 80, autocomplete: "off", placeholder: t("console.form.delegationNamePlaceholder"), dataset: { testid: "delegation-name" } }));
  const city = field(`deleg-${n}-city`, t("console.form.delegationCity"),
    h("input", { type: "text", maxLength: 80, autocomplete: "off", dataset: { testid: "delegation-city" } }));
  const tz = field(`deleg-${n}-zone`, t("console.form.timeZone"), zoneSelect(`deleg-${n}-zone`, zones, zone, { dataset: { testid: "delegation-zone" } }));
  const role = field(`deleg-${n}-role`, t("console.form.role"),
    h("select", { class: "field-select", dataset: { testid: "delegation-role" } },
      DELEGATION_ROLES.map((r) => h("option", { value: r, text: t(`console.roles.${r}`) }))));
  const seats = field(`deleg-${n}-seats`, t("console.form.seats"),
    h("input", { type: "number", min: 1, max: 500, step: 1, value: "5", inputMode: "numeric", class: "seats-input", dataset: { testid: "delegation-seats" } }));
  for (const f of [name, city, tz, role, seats]) f.control.id = f.el.dataset.field;
  const remove = h("button", {
    type: "button",
    class: "button button-quiet delegation-remove",
    dataset: { testid: "remove-delegation" },
    attrs: { "aria-label": t("console.form.removeDelegation") },
  }, icon("close"), h("span", { class: "remove-label", text: t("console.form.remove") }));
  const el = h("li", { class: "delegation-row", dataset: { testid: "delegation-row" } },
    name.el, city.el, tz.el, role.el, seats.el, remove);
  remove.addEventListener("click", () => onRemove(row));
  const fields = { name, city, time_zone: tz, role, seats };
  const row = {
    el,
    fields,
    values: () => ({ name: name.control.value, city: city.control.value, timeZone: tz.control.value, role: role.control.value, seats: seats.control.value }),
    focus: () => name.control.focus(),
  };
  return row;
}

function setError(f, message) {
  f.error.textContent = message;
  if (message) f.control.setAttribute("aria-invalid", "true");
  else f.control.removeAttribute("aria-invalid");
}

/** The "Schedule a meeting" form; onScheduled(meeting) once the server has it. */
function scheduleForm(ctx, cities, onScheduled) {
  const zones = timeZoneList(timeZone());
  const here = timeZone();
  const start = defaultStart();
  const title = field("meeting-title", t("console.form.title"),
    h("input", { type: "text", required: true, maxLength: TITLE_MAX, autocomplete: "off", placeholder: t("start.create.titlePlaceholder") }));
  const agenda = field("meeting-agenda", t("console.form.agenda"),
    h("textarea", { rows: 3, maxLength: AGENDA_MAX, class: "console-textarea" }), { optional: true });
  const date = field("meeting-date", t("console.form.date"), h("input", { type: "date", required: true, value: start.date }));
  const time = field("meeting-time", t("console.form.time"), h("input", { type: "time", required: true, value: start.time }));
  const zone = field("meeting-zone", t("console.form.timeZone"), zoneSelect("meeting-zone", zones, here));
  const duration = field("meeting-duration", t("start.create.duration"),
    h("select", { class: "field-select" }, DURATIONS.map((m) => h("option", { value: String(m), text: t("start.create.minutes", { count: m }) }))));
  duration.control.value = "60";
  const city = field("meeting-city", t("start.create.city"),
    h("select", { class: "field-select" },
      h("option", { value: "", text: t("console.form.noCity") }),
      cities.map((c) => h("option", { value: c.id, text: t(`cities.${c.id}`, { defaultValue: c.name }) }))));
  const local = cities.find((c) => c.time_zone === here);
  if (local) city.control.value = local.id;
  const retention = field("meeting-retention", t("console.retention.label"), retentionSelect(null), { hint: t("console.retention.hint") });
  for (const f of [title, agenda, date, time, zone, duration, city, retention]) f.control.id = f.el.dataset.field;

  const rows = [];
  const list = h("ol", { class: "delegation-list", dataset: { testid: "delegations" } });
  const listError = h("p", { id: "delegations-error", class: "field-error", attrs: { "aria-live": "polite" } });
  const empty = h("p", { class: "field-hint delegations-empty", text: t("console.form.noDelegations") });
  const refresh = () => {
    empty.hidden = rows.length > 0;
  };
  const removeRow = (row) => {
    rows.splice(rows.indexOf(row), 1);
    row.el.remove();
    refresh();
    addBtn.focus();
  };
  const addBtn = h("button", { type: "button", class: "button button-secondary", dataset: { testid: "add-delegation" } },
    h("span", { text: "+" }), h("span", { text: t("console.form.addDelegation") }));
  addBtn.addEventListener("click", () => {
    const row = delegationRow(zones, zone.control.value, removeRow);
    rows.push(row);
    list.append(row.el);
    refresh();
    row.focus();
  });
  refresh();

  const formError = h("p", { class: "field-error form-error", dataset: { testid: "schedule-error" }, attrs: { "aria-live": "polite" } });
  const submit = h("button", { type: "submit", class: "button button-primary button-large", text: t("console.form.submit"), dataset: { testid: "schedule-submit" } });
  const form = h("form", { class: "card console-form", noValidate: true, dataset: { testid: "schedule-form" }, attrs: { "aria-labelledby": "schedule-title" } },
    h("h2", { id: "schedule-title", text: t("console.form.heading") }),
    title.el,
    agenda.el,
    h("fieldset", { class: "console-when" },
      h("legend", { class: "field-label", text: t("console.form.start") }),
      h("div", { class: "console-when-row" }, date.el, time.el, duration.el),
      zone.el),
    city.el,
    retention.el,
    h("fieldset", { class: "console-delegations" },
      h("legend", { class: "field-label", text: t("console.form.delegations") }),
      h("p", { class: "field-hint", text: t("console.form.delegationsHint") }),
      empty,
      list,
      listError,
      addBtn),
    formError,
    submit);

  const top = { title, agenda, "start.date": date, "start.time": time, "start.time_zone": zone, start: date, duration_minutes: duration, city, record_retention_days: retention };
  const clearErrors = () => {
    for (const f of Object.values(top)) setError(f, "");
    for (const row of rows) for (const f of Object.values(row.fields)) setError(f, "");
    listError.textContent = "";
    formError.textContent = "";
  };
  const showFieldError = (err) => {
    const name = errorField(err.message);
    const where = delegationField(name);
    const text = plainMessage(err.message);
    if (where && rows[where.row]) {
      const f = rows[where.row].fields[where.name] || rows[where.row].fields.name;
      setError(f, text);
      f.control.focus();
    } else if (top[name]) {
      setError(top[name], text);
      top[name].control.focus();
    } else if (name === "delegations" || where) {
      listError.textContent = text;
    } else {
      formError.textContent = text || t("console.errors.failed");
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const body = meetingBody({
      title: title.control.value, agenda: agenda.control.value, date: date.control.value, time: time.control.value,
      timeZone: zone.control.value, duration: duration.control.value, city: city.control.value,
      retention: retention.control.value, delegations: rows.map((r) => r.values()),
    });
    if (!body.title) {
      setError(title, t("start.create.titleMissing"));
      title.control.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t("console.form.scheduling");
    try {
      const meeting = await scheduleMeeting(body, ctx.key());
      onScheduled(meeting);
    } catch (err) {
      const kind = errorKind(err);
      if (kind === "key") ctx.askKey(err);
      else if (kind === "field") showFieldError(err);
      else formError.textContent = refusalText(err);
    } finally {
      submit.disabled = false;
      submit.textContent = t("console.form.submit");
    }
  });
  return form;
}

/** A select of how long a meeting's record is kept ("" for ever, else days), on ``current``. */
function retentionSelect(current) {
  const choices = RETENTION_CHOICES.includes(current) ? RETENTION_CHOICES : [...RETENTION_CHOICES, current];
  const select = h("select", { class: "field-select" }, choices.map((days) => {
    const label = retentionLabel(days);
    return h("option", { value: days === null ? "" : String(days), text: t(label.key, { count: label.count }) });
  }));
  select.value = current === null || current === undefined ? "" : String(current);
  return select;
}

/** The meeting detail's retention: the select and Save (PATCH), with what was saved said. */
function retentionControl(room, ctx) {
  const f = field("detail-retention", t("console.retention.label"), retentionSelect(room.record_retention_days ?? null));
  f.control.id = "detail-retention";
  f.control.dataset.testid = "retention-select";
  const status = h("p", { class: "field-hint", dataset: { testid: "retention-status" }, text: t("console.retention.hint"), attrs: { "aria-live": "polite" } });
  const save = h("button", { type: "button", class: "button button-secondary", text: t("console.retention.save"), dataset: { testid: "retention-save" } });
  save.addEventListener("click", async () => {
    setError(f, "");
    save.disabled = true;
    try {
      const days = retentionDays(f.control.value);
      await setRetention(room.id, days, ctx.key());
      room.record_retention_days = days;
      const label = retentionLabel(days);
      status.textContent = days === null ? t("console.retention.savedForever")
        : t("console.retention.saved", { what: t(label.key, { count: label.count }) });
    } catch (err) {
      if (errorKind(err) === "key") ctx.askKey(err);
      else setError(f, refusalText(err));
    } finally {
      save.disabled = false;
    }
  });
  return h("div", { class: "console-retention" }, h("div", { class: "console-retention-row" }, f.el, save), status);
}

/** "Wed 10 Mar 2027, 18:00 (GMT+1)" here, and in the meeting's own zone when that differs. */
function whenLines(room) {
  if (!room.starts_at) return [t("console.list.noStart")];
  const lang = language();
  const local = `${formatInZone(room.starts_at, undefined, lang)} (${zoneLabel(room.starts_at)})`;
  const lines = [t("console.list.yourTime", { when: local })];
  if (room.time_zone && room.time_zone !== timeZone()) {
    lines.push(t("console.list.meetingTime", { when: formatInZone(room.starts_at, room.time_zone, lang, { timeStyle: "short", dateStyle: "medium" }), zone: room.time_zone.replace(/_/g, " ") }));
  }
  return lines;
}

function meetingItem(room, kind, onOpen) {
  const btn = h("button", { type: "button", class: "meeting-item-button", dataset: { testid: "meeting-item", roomId: room.id } },
    h("strong", { class: "meeting-item-title", text: room.title, attrs: { translate: "no" } }),
    whenLines(room).map((line) => h("span", { class: "meeting-item-when", text: line })),
    h("span", { class: "meeting-item-meta" },
      room.delegations ? t("console.list.delegations", { count: room.delegations }) : "",
      room.opened_at && kind !== "past" ? h("span", { class: "badge badge-open", text: t("console.list.open") }) : null));
  btn.addEventListener("click", () => onOpen(room.id, kind));
  return h("li", { class: "meeting-item" }, btn);
}

function meetingList(kind, rooms, onOpen) {
  return h("section", { class: "meeting-group", dataset: { testid: `meetings-${kind}` }, attrs: { "aria-labelledby": `meetings-${kind}-title` } },
    h("h3", { id: `meetings-${kind}-title`, text: t(`console.list.${kind}`) }),
    rooms.length
      ? h("ul", { class: "meeting-list" }, rooms.map((room) => meetingItem(room, kind, onOpen)))
      : h("p", { class: "field-hint", text: t(`console.list.${kind}Empty`) }));
}

function linkRow({ id, label, url, testid, copyLabel }) {
  const input = h("input", { id, type: "text", readOnly: true, value: url, class: "link-input", dataset: { testid }, attrs: { spellcheck: "false", translate: "no" } });
  input.addEventListener("focus", () => input.select());
  return h("div", { class: "link-row" },
    h("label", { class: "field-label", htmlFor: id, text: label }),
    h("div", { class: "link-field" }, input,
      copyButton({ label: copyLabel || t("start.created.copyLink"), text: () => url, testid: `copy-${testid}`, onFail: () => input.select() })));
}

function delegationCard(meeting, d, ctx) {
  const lang = language();
  const when = formatInZone(meeting.room.starts_at, d.time_zone, lang, { dateStyle: "full", timeStyle: "short" });
  const ics = downloadButton({ label: t("console.detail.downloadIcs"), path: new URL(d.ics_url, location.origin).pathname, fallback: `${d.name}.ics`, testid: "download-ics", ctx });
  return h("li", { class: "invite-card delegation-card", dataset: { testid: "delegation-card", delegationId: String(d.id) } },
    h("div", { class: "invite-card-head" },
      h("span", { class: "invite-badge" }, icon("people")),
      h("h4", { text: d.name, attrs: { translate: "no" } })),
    h("p", { class: "delegation-facts" },
      [d.city, d.time_zone.replace(/_/g, " "), t(`console.roles.${d.role}`, { defaultValue: d.role }), t("console.detail.seats", { count: d.seats })]
        .filter(Boolean).join(" · ")),
    when ? h("p", { class: "delegation-when", dataset: { testid: "delegation-when" }, text: t("console.detail.theirTime", { when }) }) : null,
    d.link
      ? linkRow({ id: `deleg-link-${d.id}`, label: t("console.detail.delegationLink"), url: d.link, testid: "delegation-link" })
      : h("p", { class: "field-hint", text: t("console.detail.revoked") }),
    h("div", { class: "invite-actions" },
      d.invitation ? copyButton({ label: t("start.created.copyInvitation"), text: () => d.invitation, testid: "copy-delegation-invitation", primary: true }) : null,
      d.link ? ics.btn : null),
    ics.error,
    d.invitation ? h("details", { class: "invitation-text" },
      h("summary", { text: t("console.detail.showInvitation") }),
      h("pre", { text: d.invitation, dataset: { testid: "delegation-invitation" } })) : null);
}

/** A meeting's detail: when, agenda, host link, Open now, delegations, and a past one's record. */
function meetingDetail(meeting, kind, ctx, onBack) {
  const { room } = meeting;
  const heading = h("h2", { id: "detail-title", text: room.title, attrs: { tabindex: "-1", translate: "no" } });
  const status = h("p", { class: "detail-status", dataset: { testid: "open-status" }, attrs: { "aria-live": "polite" } });
  const openError = h("p", { class: "field-error", attrs: { "aria-live": "polite" } });
  const actions = h("div", { class: "invite-actions" },
    h("a", { class: "button button-primary", href: meeting.links.host, target: "_blank", rel: "noopener", dataset: { testid: "open-host" } }, t("start.created.openAsHost")));
  if (room.opened_at) status.textContent = t("console.detail.opened");
  if (kind !== "past" && !room.opened_at) {
    const open = h("button", { type: "button", class: "button button-secondary", text: t("console.detail.openNow"), dataset: { testid: "open-now" } });
    open.addEventListener("click", async () => {
      openError.textContent = "";
      open.disabled = true;
      try {
        await openMeeting(room.id, ctx.key());
        status.textContent = t("console.detail.opened");
        open.remove();
      } catch (err) {
        open.disabled = false;
        if (errorKind(err) === "key") ctx.askKey(err);
        else openError.textContent = refusalText(err);
      }
    });
    actions.append(open);
  }
  let record = null;
  if (kind === "past" || room.opened_at) {  // (during the meeting too: the record so far)
    record = downloadButton({ label: t("console.detail.downloadRecord"), path: `/api/rooms/${encodeURIComponent(room.id)}/record`, fallback: `${room.id}-record.zip`, testid: "download-record", ctx });
    actions.append(record.btn);
    // the archive page plays the room's recordings with the stage as it was (it takes the key from this browser)
    actions.append(h("a", { class: "button button-secondary", href: `/archive#room=${encodeURIComponent(room.id)}`, target: "_blank", rel: "noopener", dataset: { testid: "open-archive" } }, t("console.detail.openArchive")));
  }
  const back = h("button", { type: "button", class: "button-text detail-back", text: t("console.detail.back"), dataset: { testid: "detail-back" } });
  back.addEventListener("click", onBack);
  const el = h("section", { class: "card console-detail", dataset: { testid: "meeting-detail" }, attrs: { "aria-labelledby": "detail-title" } },
    back,
    heading,
    h("div", { class: "created-room" }, whenLines(room).map((line) => h("span", { class: "created-room-when", text: line }))),
    room.agenda ? h("p", { class: "detail-agenda", text: room.agenda }) : null,
    linkRow({ id: "detail-host-link", label: t("start.created.hostLink"), url: meeting.links.host, testid: "host-link", copyLabel: t("start.created.copyHostLink") }),
    h("p", { class: "field-hint", text: t("start.created.hostHint") }),
    actions,
    status,
    openError,
    record ? record.error : null,
    retentionControl(room, ctx),
    h("h3", { text: t("console.detail.delegations") }),
    meeting.delegations.length
      ? h("ol", { class: "delegation-cards" }, meeting.delegations.map((d) => delegationCard(meeting, d, ctx)))
      : h("p", { class: "field-hint", text: t("console.detail.noDelegations") }));
  return { el, focus: () => heading.focus() };
}

/** The key form shown when this browser has no key (or the server refused it). */
function keyCard(onKey, message) {
  const organiser = organiserField();
  const submit = h("button", { type: "submit", class: "button button-primary button-large", text: t("console.key.submit"), dataset: { testid: "console-key-submit" } });
  const form = h("form", { class: "card console-key", noValidate: true, attrs: { "aria-labelledby": "console-key-title" } },
    h("h2", { id: "console-key-title", text: t("console.key.heading") }),
    organiser.el,
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    organiser.clear();
    const key = organiser.key();
    if (!key) return organiser.ask(t("console.key.needed"));
    submit.disabled = true;
    try {
      await onKey(key);
    } catch (err) {
      const kind = errorKind(err);
      organiser.ask(kind === "key" ? t("start.create.organiserKeyWrong") : refusalText(err));
    } finally {
      submit.disabled = false;
    }
  });
  return { el: form, show: () => organiser.ask(message || t("console.key.needed")) };
}

let watchingHash = false;

export async function showConsole(root) {
  takeOrganiserKey();
  if (!watchingHash) {
    watchingHash = true;
    window.addEventListener("hashchange", () => {
      if (location.hash.includes("organiser=")) showConsole(root);
    });
  }
  document.title = t("console.pageTitle");
  const main = h("main", { class: "console-body" });
  root.replaceChildren(
    h("div", { class: "start console" },
      siteHeader({ label: t("console.heading"), languageId: "console-language", onLanguage: () => showConsole(root) }),
      main,
      h("footer", { class: "site-footer", text: t("start.footer") })));

  let cities = [];
  const ctx = {
    key: storedOrganiserKey,
    askKey(err) {
      if (err?.code === "organiser_key_invalid") storeOrganiserKey("");
      askForKey(err?.code === "organiser_key_invalid" ? t("start.create.organiserKeyWrong") : t("console.key.needed"));
    },
  };
  const listColumn = h("div", { class: "console-meetings", dataset: { testid: "meetings" } });
  const listError = h("p", { class: "field-error", dataset: { testid: "meetings-error" }, attrs: { "aria-live": "polite" } });

  async function loadLists() {
    const groups = await listMeetings(ctx.key());
    const openDetail = async (roomId, kind) => {
      listError.textContent = "";
      try {
        const meeting = await getMeeting(roomId, ctx.key());
        const detail = meetingDetail(meeting, kind, ctx, () => renderLists(groups));
        listColumn.replaceChildren(detail.el);
        detail.focus();
      } catch (err) {
        if (errorKind(err) === "key") ctx.askKey(err);
        else listError.textContent = refusalText(err);
      }
    };
    const renderLists = (g) => {
      listColumn.replaceChildren(h("section", { class: "card console-lists", attrs: { "aria-labelledby": "meetings-title" } },
        h("h2", { id: "meetings-title", text: t("console.list.heading") }),
        listError,
        meetingList("upcoming", g.upcoming || [], openDetail),
        meetingList("past", g.past || [], openDetail),
        (g.unscheduled || []).length ? meetingList("unscheduled", g.unscheduled, openDetail) : null));
    };
    renderLists(groups);
    return { openDetail };
  }

  async function showWorkspace() {
    const opened = await loadLists(); // throws a refusal (a wrong key) before anything is shown
    const makeForm = () => {
      const form = scheduleForm(ctx, cities, async (meeting) => {
        form.replaceWith(makeForm()); // an empty form: nothing is scheduled twice by a second click
        await loadLists().then((o) => o.openDetail(meeting.room.id, "upcoming")).catch((err) => {
          listError.textContent = refusalText(err);
        });
      });
      return form;
    };
    main.replaceChildren(makeForm(), listColumn);
    return opened;
  }

  function askForKey(message) {
    const card = keyCard(async (key) => {
      storeOrganiserKey(key);
      try {
        await showWorkspace();
      } catch (err) {
        if (errorKind(err) === "key") storeOrganiserKey("");
        throw err;
      }
    }, message);
    main.replaceChildren(card.el);
    card.show();
  }

  try {
    cities = (await listCities()).cities || [];
  } catch {
    cities = []; // the form works without the city field
  }
  if (!storedOrganiserKey()) return askForKey(t("console.key.needed"));
  try {
    await showWorkspace();
  } catch (err) {
    if (errorKind(err) === "key") ctx.askKey(err);
    else main.replaceChildren(h("p", { class: "card field-error", text: refusalText(err) }));
  }
}
