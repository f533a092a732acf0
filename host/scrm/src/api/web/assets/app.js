// scrm web inbox: one small script over the host's /v1/ API (the session cookie
// authenticates; every change carries the page's CSRF token). No framework, no
// build step, nothing fetched from elsewhere.
"use strict";

const TEXT = {
  en: {
    "login.title": "Log in to the inbox", "login.tenant": "Workspace", "login.email": "Email",
    "login.password": "Password", "login.submit": "Log in",
    "login.error.invalid": "Wrong email or password.",
    "login.error.rate_limited": "Too many failed attempts. Try again in 15 minutes.",
    "login.error.expired": "Your session has ended. Log in again.",
    "login.error.link": "This login link has been used or has expired.",
    "login.error.origin": "Log in from this site's own page.",
    "reports": "Reports", "reports.title": "Reports", "reports.from": "From", "reports.to": "To",
    "reports.show": "Show", "reports.csv": "CSV", "reports.alerts": "Alerts", "reports.churn": "Churn risk",
    "reports.response": "Response times", "reports.resolution": "Resolved", "reports.heat": "When customers write",
    "reports.words": "Hot words", "reports.watched": "Watched words and promotions",
    "reports.funnel": "Sales funnel", "reports.conversion": "Close rate by payment method",
    "reports.ctr": "Link clicks and opens", "reports.cost": "Message cost",
    "reports.weekly": "Weekly reports", "reports.none": "No weekly report stored yet: one is made each Monday.",
    "reports.emailed": "emailed", "reports.page": "page",
    "reports.summary": "Median first response {0} · median response {1} · {2} turns, {3} unanswered",
    "away.available": "Available", "away.away": "Away (no new conversations)",
    "logout": "Log out", "role.agent": "agent", "role.manager": "manager", "role.admin": "admin",
    "list.title": "Conversations", "filter.assignee": "Assigned", "filter.all": "All I can see",
    "filter.mine": "Mine", "filter.unassigned": "Unassigned", "filter.state": "State",
    "filter.any": "Any", "filter.tag": "Tag", "filter.intent": "Intent",
    "state.open": "Open", "state.pending": "Pending", "state.snoozed": "Snoozed", "state.resolved": "Resolved",
    "conv.none": "Choose a conversation.", "conv.unread": "unread", "conv.window": "Window: {0} left",
    "conv.window_closed": "The 24-hour window is closed: only an approved template can be sent.",
    "conv.assigned": "Assigned to", "conv.nobody": "nobody", "conv.team": "team",
    "act.take": "Assign to me", "act.resolve": "Resolve", "act.reopen": "Reopen", "act.snooze": "Snooze 1 h",
    "act.pending": "Pending", "act.assign": "Assign", "act.round_robin": "Round-robin",
    "reply.label": "Reply (type / for canned responses)", "reply.send": "Send", "reply.preview": "Preview",
    "reply.template": "Template", "reply.params": "Parameters (one per line)", "reply.send_template": "Send template",
    "reply.unsent": "Your unsent reply (kept)", "profile.crm": "Open in CRM",
    "note.label": "Private note (never sent to the customer)", "note.add": "Add note", "notes": "Notes",
    "profile": "Customer", "sent_by": "sent by", "status.failed": "failed",
    "source.app": "the WhatsApp Business app", "call.in": "Incoming call",
    "suggestion.title": "Suggested answer", "suggestion.label": "Suggested answer (edit before sending)",
    "suggestion.from": "drafted by", "suggestion.send": "Send", "suggestion.discard": "Discard", "call.out": "Call placed", "call.created": "created",
    "call.connecting": "connecting", "call.ringing": "ringing", "call.accepted": "answered",
    "call.rejected": "declined", "call.completed": "ended", "call.failed": "failed", "call.ended": "ended",
    "toast.sent": "Queued for sending.", "toast.new": "New activity.", "error.prefix": "Not sent: ",
  },
  it: {
    "login.title": "Accedi alla casella", "login.tenant": "Spazio di lavoro", "login.email": "Email",
    "login.password": "Password", "login.submit": "Accedi",
    "login.error.invalid": "Email o password errate.",
    "login.error.rate_limited": "Troppi tentativi falliti. Riprova tra 15 minuti.",
    "login.error.expired": "La sessione è scaduta. Accedi di nuovo.",
    "login.error.link": "Questo link di accesso è già stato usato o è scaduto.",
    "login.error.origin": "Accedi dalla pagina di questo sito.",
    "reports": "Report", "reports.title": "Report", "reports.from": "Dal", "reports.to": "Al",
    "reports.show": "Mostra", "reports.csv": "CSV", "reports.alerts": "Avvisi", "reports.churn": "Rischio di abbandono",
    "reports.response": "Tempi di risposta", "reports.resolution": "Risolte", "reports.heat": "Quando scrivono i clienti",
    "reports.words": "Parole più usate", "reports.watched": "Parole osservate e promozioni",
    "reports.funnel": "Funnel di vendita", "reports.conversion": "Chiusura per metodo di pagamento",
    "reports.ctr": "Clic sui link e letture", "reports.cost": "Costo dei messaggi",
    "reports.weekly": "Report settimanali", "reports.none": "Nessun report settimanale salvato: se ne crea uno ogni lunedì.",
    "reports.emailed": "inviato", "reports.page": "pagina",
    "reports.summary": "Prima risposta mediana {0} · risposta mediana {1} · {2} turni, {3} senza risposta",
    "away.available": "Disponibile", "away.away": "Assente (nessuna nuova conversazione)",
    "logout": "Esci", "role.agent": "operatore", "role.manager": "responsabile", "role.admin": "amministratore",
    "list.title": "Conversazioni", "filter.assignee": "Assegnate", "filter.all": "Tutte quelle visibili",
    "filter.mine": "Mie", "filter.unassigned": "Non assegnate", "filter.state": "Stato",
    "filter.any": "Qualsiasi", "filter.tag": "Etichetta", "filter.intent": "Intento",
    "state.open": "Aperta", "state.pending": "In attesa", "state.snoozed": "Posticipata", "state.resolved": "Risolta",
    "conv.none": "Scegli una conversazione.", "conv.unread": "non letti", "conv.window": "Finestra: restano {0}",
    "conv.window_closed": "La finestra di 24 ore è chiusa: si può inviare solo un modello approvato.",
    "conv.assigned": "Assegnata a", "conv.nobody": "nessuno", "conv.team": "team",
    "act.take": "Assegna a me", "act.resolve": "Risolvi", "act.reopen": "Riapri", "act.snooze": "Posticipa 1 h",
    "act.pending": "In attesa", "act.assign": "Assegna", "act.round_robin": "A rotazione",
    "reply.label": "Risposta (digita / per le risposte rapide)", "reply.send": "Invia", "reply.preview": "Anteprima",
    "reply.template": "Modello", "reply.params": "Parametri (uno per riga)", "reply.send_template": "Invia modello",
    "reply.unsent": "La tua risposta non inviata (conservata)", "profile.crm": "Apri nel CRM",
    "note.label": "Nota privata (mai inviata al cliente)", "note.add": "Aggiungi nota", "notes": "Note",
    "profile": "Cliente", "sent_by": "inviato da", "status.failed": "non consegnato",
    "source.app": "l'app WhatsApp Business", "call.in": "Chiamata in arrivo",
    "suggestion.title": "Risposta suggerita", "suggestion.label": "Risposta suggerita (modificabile prima dell'invio)",
    "suggestion.from": "scritta da", "suggestion.send": "Invia", "suggestion.discard": "Scarta", "call.out": "Chiamata effettuata", "call.created": "creata",
    "call.connecting": "in connessione", "call.ringing": "squilla", "call.accepted": "risposta",
    "call.rejected": "rifiutata", "call.completed": "terminata", "call.failed": "non riuscita", "call.ended": "terminata",
    "toast.sent": "In coda per l'invio.", "toast.new": "Nuova attività.", "error.prefix": "Non inviato: ",
  },
};

let lang = localStorage.getItem("scrm-lang") ||
  ((navigator.language || "en").toLowerCase().startsWith("it") ? "it" : "en");

function t(key, ...args) {
  let s = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
  args.forEach((a, i) => { s = s.replace(`{${i}}`, a); });
  return s;
}

function translate(root) {
  document.documentElement.lang = lang;
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  const err = document.getElementById("login-error");
  if (err) err.textContent = t("login.error." + err.dataset.code);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "onclick" || k === "oninput" || k === "onkeydown" || k === "onchange") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const meta = (n) => (document.querySelector(`meta[name="scrm-${n}"]`) || {}).content;
const tenant = () => meta("tenant");
const base = () => `/v1/tenants/${encodeURIComponent(tenant())}`;

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { "X-CSRF-Token": meta("csrf") || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 401) { location.href = "/login?expired=1"; throw new ApiError(401, "session_expired", ""); }
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(resp.status, e.code || "http_error", e.message || resp.statusText);
  }
  return data;
}

function toast(msg) {
  const box = document.getElementById("toast");
  box.textContent = msg;
  setTimeout(() => { if (box.textContent === msg) box.textContent = ""; }, 4000);
}

function duration(s) {
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min`;
}

const when = (ms) => new Date(ms).toLocaleString(lang === "it" ? "it-IT" : "en-GB",
  { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit" });

const state = { open: null, people: [], teams: [], detail: null, drafts: {} };

async function loadList() {
  const q = new URLSearchParams();
  for (const [id, key] of [["f-assignee", "assignee"], ["f-state", "state"], ["f-tag", "tag"], ["f-intent", "intent"]]) {
    const v = document.getElementById(id).value.trim();
    if (v) q.set(key, v);
  }
  const data = await api("GET", `${base()}/inbox/conversations?${q}`);
  const list = document.getElementById("conversations");
  // A live redraw keeps the keyboard where it was.
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.id : null;
  list.replaceChildren(...data.items.map((c) => el("li", {},
    el("button", {
      type: "button", "data-id": c.id, "aria-current": c.id === state.open ? "true" : null,
      onclick: () => openConversation(c.id),
    },
    el("strong", {}, c.contact_name || c.wa_id || `#${c.id}`), " ",
    c.unread > 0 ? el("span", { class: "badge", "aria-label": `${c.unread} ${t("conv.unread")}` }, c.unread) : null,
    el("div", { class: "meta" }, t("state." + c.state), " · ", when(c.last_message_at),
      c.window_left_s > 0 ? ` · ${t("conv.window", duration(c.window_left_s))}` : ""),
    el("div", { class: "meta" }, (c.last_text || "").slice(0, 80))))));
  if (focused) {
    const again = list.querySelector(`button[data-id="${focused}"]`);
    if (again) again.focus();
  }
}

function personName(id) {
  const p = state.people.find((x) => x.id === id);
  return p ? p.name : `#${id}`;
}

function teamName(id) {
  const x = state.teams.find((y) => y.id === id);
  return x ? x.name : `#${id}`;
}

function messageView(m) {
  const body = [];
  if (m.kind === "image" || m.kind === "sticker") {
    body.push(el("span", { class: "media", "data-message": m.id }, `[${m.kind}]`));
  } else if (["document", "audio", "video"].includes(m.kind)) {
    body.push(el("span", { class: "media", "data-message": m.id }, `[${m.kind}]`));
  }
  if (m.text) body.push(el("p", {}, m.text));
  const status = m.direction === "outbound"
    ? [m.status === "failed" ? t("status.failed") : m.status,
      m.errors ? ` — ${(m.errors[0] && (m.errors[0].title || m.errors[0].message)) || ""}` : "",
      m.source ? ` · ${t("sent_by")} ${m.source === "business_app" ? t("source.app") : m.source}` : ""].join("")
    : [(m.tags || []).join(", "), m.classification && m.classification.intent ? ` · ${m.classification.intent.name}` : ""].join("");
  return el("li", { class: `msg ${m.direction}`, "data-status": m.status },
    body, el("div", { class: "status" }, when(m.timestamp), status ? ` · ${status}` : ""));
}

// A WhatsApp call with the customer, in the conversation's timeline.
function callView(k) {
  const placed = k.direction === "business_initiated";
  const s = k.duration_s || 0;
  const length = s ? ` · ${s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`}` : "";
  return el("li", { class: `msg call ${placed ? "outbound" : "inbound"}`, "data-call": k.call_id, "data-state": k.state },
    el("p", {}, `${t(placed ? "call.out" : "call.in")}: ${t("call." + k.state)}${length}`),
    el("div", { class: "status" }, when(k.created_at)));
}

// The conversation's messages with its calls between them, by time.
function timeline(c) {
  const calls = [...(c.calls || [])];
  const out = [];
  for (const m of c.messages) {
    while (calls.length && calls[0].created_at <= m.timestamp) out.push(callView(calls.shift()));
    out.push(messageView(m));
  }
  return out.concat(calls.map(callView));
}

async function showMedia(root) {
  for (const span of root.querySelectorAll(".media[data-message]")) {
    try {
      const page = await api("GET", `${base()}/media?message_id=${span.dataset.message}`);
      const f = page.items && page.items[0];
      if (!f || f.state !== "stored") continue;
      const url = `${base()}/media/${f.sha256}`;
      span.replaceChildren((f.mime_type || "").startsWith("image/")
        ? el("img", { src: url, alt: f.file_name || f.kind })
        : el("a", { href: url, download: f.file_name || f.sha256 }, f.file_name || f.kind));
    } catch (_) { /* the placeholder stays */ }
  }
}

async function act(path, body) {
  try {
    await api("POST", `${base()}/inbox/conversations/${state.open}${path}`, body);
    await Promise.all([openConversation(state.open), loadList()]);
  } catch (e) { toast(`${e.code}: ${e.message}`); }
}

function actions(c) {
  const role = meta("role"), me = Number(meta("person"));
  const out = [];
  if (c.assignee_person !== me) out.push(el("button", { type: "button", id: "act-take", onclick: () => act("/assign", { person: me }) }, t("act.take")));
  if (c.state === "resolved") out.push(el("button", { type: "button", id: "act-reopen", onclick: () => act("/state", { state: "open" }) }, t("act.reopen")));
  else out.push(el("button", { type: "button", id: "act-resolve", onclick: () => act("/state", { state: "resolved" }) }, t("act.resolve")));
  out.push(el("button", { type: "button", id: "act-snooze", onclick: () => act("/state", { state: "snoozed", until: Date.now() + 3600e3 }) }, t("act.snooze")));
  out.push(el("button", { type: "button", id: "act-pending", onclick: () => act("/state", { state: "pending" }) }, t("act.pending")));
  if (role !== "agent") {
    const sel = el("select", { id: "assign-to", "aria-label": t("act.assign") },
      state.people.filter((p) => !p.disabled_at).map((p) => el("option", { value: `person:${p.id}` }, p.name)),
      state.teams.map((x) => el("option", { value: `team:${x.id}` }, `${t("conv.team")} ${x.name}`)));
    out.push(sel, el("button", { type: "button", id: "act-assign", onclick: () => {
      const [kind, id] = sel.value.split(":");
      act("/assign", kind === "person" ? { person: Number(id) } : { team: Number(id), round_robin: true });
    } }, t("act.assign")));
  }
  return out;
}

// What an agent has typed but not sent, per conversation: a live refresh or a switch to
// another conversation never throws it away.
function draft(id) {
  if (!state.drafts[id]) state.drafts[id] = { reply: "", note: "" };
  return state.drafts[id];
}

function replyBox(c) {
  if (c.window_left_s <= 0) return templateBox(c);
  const d = draft(c.id);
  const area = el("textarea", { id: "reply-text", "aria-describedby": "reply-error" });
  area.value = d.reply;
  const suggestions = el("ul", { class: "suggestions", id: "canned-suggestions", role: "listbox" });
  const error = el("p", { class: "error", id: "reply-error", role: "alert" });
  const preview = el("p", { class: "meta", id: "reply-preview" });
  area.oninput = async () => {
    d.reply = area.value;
    const m = area.value.match(/(?:^|\s)\/([a-z0-9_-]*)$/);
    if (!m) { suggestions.replaceChildren(); return; }
    const found = await api("GET", `${base()}/canned?q=${encodeURIComponent(m[1])}`);
    suggestions.replaceChildren(...found.items.map((r) => el("li", {},
      el("button", { type: "button", role: "option", "data-shortcut": r.shortcut, onclick: () => {
        area.value = area.value.replace(/\/[a-z0-9_-]*$/, r.body);
        d.reply = area.value;
        suggestions.replaceChildren();
        area.focus();
      } }, `/${r.shortcut} — ${r.title}`))));
  };
  const send = async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try {
      await api("POST", `${base()}/inbox/conversations/${c.id}/messages`, { text: area.value });
      area.value = "";
      d.reply = "";
      preview.textContent = "";
      toast(t("toast.sent"));
      await Promise.all([openConversation(c.id), loadList()]);
    } catch (e) {
      // The text stays in the box; the host's reason is shown.
      error.textContent = t("error.prefix") + `${e.code}: ${e.message}`;
    }
  };
  return el("form", { class: "reply", id: "reply-form" },
    el("label", { for: "reply-text" }, t("reply.label")), area, suggestions, preview, error,
    el("button", { type: "button", id: "reply-preview-button", onclick: async () => {
      try {
        const r = await api("POST", `${base()}/inbox/conversations/${c.id}/preview`, { text: area.value });
        preview.textContent = r.text;
      } catch (e) { error.textContent = `${e.code}: ${e.message}`; }
    } }, t("reply.preview")), " ",
    el("button", { type: "submit", class: "primary", id: "reply-send", onclick: send }, t("reply.send")));
}

function templateBox(c) {
  const select = el("select", { id: "template-name", "aria-label": t("reply.template") });
  const params = el("textarea", { id: "template-params" });
  const error = el("p", { class: "error", id: "reply-error", role: "alert" });
  const unsent = draft(c.id).reply;
  api("GET", `${base()}/templates?status=approved`).then((d) => {
    select.replaceChildren(...(d.items || []).map((x) =>
      el("option", { value: JSON.stringify([x.name, x.language]) }, `${x.name} (${x.language})`)));
  }).catch(() => {});
  return el("form", { class: "reply", id: "template-form" },
    el("p", { class: "meta" }, t("conv.window_closed")),
    // A reply typed before the window closed is kept (and comes back if the customer writes).
    unsent ? el("label", { for: "reply-unsent" }, t("reply.unsent")) : null,
    unsent ? el("textarea", { id: "reply-unsent", readonly: true }, unsent) : null,
    el("label", { for: "template-name" }, t("reply.template")), select,
    el("label", { for: "template-params" }, t("reply.params")), params, error,
    el("button", { type: "submit", class: "primary", onclick: async (ev) => {
      ev.preventDefault();
      try {
        const [name, language] = JSON.parse(select.value);
        const values = params.value.split("\n").map((s) => s.trim()).filter(Boolean);
        const template = { name, language: { code: language } };
        if (values.length) template.components = [{ type: "body", parameters: values.map((v) => ({ type: "text", text: v })) }];
        await api("POST", `${base()}/inbox/conversations/${c.id}/messages`, { template });
        toast(t("toast.sent"));
        await openConversation(c.id);
      } catch (e) { error.textContent = t("error.prefix") + `${e.code}: ${e.message}`; }
    } }, t("reply.send_template")));
}

// Answers a flow left for an agent (the AI replies flow's drafts): sent as written or
// as edited here, or discarded. An edit survives live refreshes.
function suggestionView(c, s) {
  const edits = state.suggestionEdits || (state.suggestionEdits = {});
  const area = el("textarea", { class: "draft-text", "aria-label": t("suggestion.label"),
    oninput: () => { edits[s.id] = area.value; } });
  area.value = edits[s.id] ?? s.text;
  const go = (what, body) => async () => {
    try {
      await api("POST", `${base()}/inbox/conversations/${c.id}/drafts/${s.id}/${what}`, body && body());
      delete edits[s.id];
      await openConversation(c.id);
    } catch (e) { toast(`${e.code}: ${e.message}`); }
  };
  return el("div", { class: "draft-box", "data-draft": s.id },
    el("div", { class: "meta" }, `${t("suggestion.from")} ${s.flow}${s.note ? ` · ${s.note}` : ""}`),
    area,
    el("button", { type: "button", class: "draft-send", onclick: go("send", () => ({ text: area.value })) }, t("suggestion.send")),
    el("button", { type: "button", class: "draft-discard", onclick: go("discard") }, t("suggestion.discard")));
}

function suggestions(c) {
  if (!(c.drafts || []).length) return null;
  return el("section", { id: "drafts", "aria-label": t("suggestion.title") },
    el("h3", {}, t("suggestion.title")), c.drafts.map((s) => suggestionView(c, s)));
}

function noteBox(c) {
  const d = draft(c.id);
  const area = el("textarea", { id: "note-text", oninput: () => { d.note = area.value; } });
  area.value = d.note;
  return el("form", { class: "reply", id: "note-form" },
    el("label", { for: "note-text" }, t("note.label")), area,
    el("button", { type: "submit", id: "note-add", onclick: async (ev) => {
      ev.preventDefault();
      try {
        await api("POST", `${base()}/inbox/conversations/${c.id}/notes`, { body: area.value });
        area.value = "";
        d.note = "";
        await openConversation(c.id);
      } catch (e) { toast(`${e.code}: ${e.message}`); }
    } }, t("note.add")));
}

function profile(c) {
  const fields = Object.entries(c.crm || {}).map(([k, v]) => el("li", {}, `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`));
  return el("section", { class: "profile", "aria-label": t("profile") },
    el("strong", {}, t("profile")), ` +${c.wa_id || ""}`, (c.tags || []).length ? ` · ${c.tags.join(", ")}` : "",
    c.crm_url ? [" · ", el("a", { id: "crm-link", href: c.crm_url, target: "_blank", rel: "noopener noreferrer" }, t("profile.crm"))] : null,
    fields.length ? el("ul", {}, fields) : null);
}

function conversationView(c) {
  const assignee = c.assignee_person ? personName(c.assignee_person)
    : c.assignee_team ? `${t("conv.team")} ${teamName(c.assignee_team)}` : t("conv.nobody");
  return [
    el("div", { class: "conv-head" },
      el("h2", { id: "conv-title" }, c.contact_name || c.wa_id),
      el("span", { id: "conv-state", "data-state": c.state }, t("state." + c.state)),
      el("span", { id: "conv-assignee" }, `${t("conv.assigned")} ${assignee}`),
      c.window_left_s > 0 ? el("span", { class: "meta" }, t("conv.window", duration(c.window_left_s))) : null),
    el("div", { class: "conv-head" }, actions(c)),
    profile(c),
    el("ul", { class: "messages", id: "messages" }, timeline(c)),
    suggestions(c),
    c.notes.length ? el("section", { "aria-label": t("notes") }, el("h3", {}, t("notes")),
      c.notes.map((n) => el("div", { class: "note" }, n.body, el("div", { class: "meta" }, `${n.author} · ${when(n.created_at)}`)))) : null,
  ].filter(Boolean);
}

// Draws a conversation. A refresh of the one already shown redraws everything above the
// composer and leaves the composer alone (focus, caret and text stay where the agent left
// them), unless the composer's kind changed (the 24-hour window opened or closed).
async function openConversation(id) {
  const same = state.open === id && state.detail && state.detail.id === id;
  state.open = id;
  document.querySelectorAll("#conversations button").forEach((b) =>
    b.setAttribute("aria-current", Number(b.dataset.id) === id ? "true" : "false"));
  const old = document.getElementById("messages");
  const atBottom = !old || old.scrollTop + old.clientHeight >= old.scrollHeight - 4;
  const c = await api("GET", `${base()}/inbox/conversations/${id}`);
  if (state.open !== id) return; // the agent moved on while this was loading
  const sameKind = same && (state.detail.window_left_s > 0) === (c.window_left_s > 0);
  state.detail = c;
  const main = document.getElementById("conversation");
  const top = el("div", { id: "conv-top" }, conversationView(c));
  const composer = document.getElementById("composer");
  if (sameKind && composer && main.contains(composer)) {
    document.getElementById("conv-top").replaceWith(top);
  } else {
    main.replaceChildren(top, el("div", { id: "composer" }, replyBox(c), noteBox(c)));
  }
  const msgs = document.getElementById("messages");
  if (!same || atBottom) msgs.scrollTop = msgs.scrollHeight;
  showMedia(top);
}

// The list's filter by team: an agent's own teams, everyone else's all of them.
function teamFilters() {
  const me = Number(meta("person"));
  const mine = (state.people.find((p) => p.id === me) || {}).teams || [];
  const select = document.getElementById("f-assignee");
  for (const x of state.teams) {
    if (meta("role") === "agent" && !mine.includes(x.id)) continue;
    select.append(el("option", { value: `team:${x.id}` }, `${t("conv.team")} ${x.name}`));
  }
}

// Managers' and admins' charts: each metric as an SVG drawn by the host (its numbers
// written on the marks), with its CSV beside it.
function seconds(s) {
  return s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

async function showReports() {
  state.open = null;
  state.detail = null;
  const main = document.getElementById("conversation");
  const today = new Date().toISOString().slice(0, 10);
  const monthAgo = new Date(Date.now() - 29 * 86400e3).toISOString().slice(0, 10);
  const from = el("input", { type: "date", id: "r-from", value: monthAgo });
  const to = el("input", { type: "date", id: "r-to", value: today });
  const summary = el("p", { id: "r-summary", class: "meta" });
  const alerts = el("ul", { id: "r-alerts", class: "alerts", "aria-label": t("reports.alerts") });
  api("GET", `${base()}/alerts`).then((a) => {
    alerts.replaceChildren(...a.items.map((x) => el("li", { "data-kind": x.kind }, `⚠ ${x.message}`)));
  }).catch(() => {});
  const weekly = el("ul", { id: "r-weekly", class: "weekly", "aria-label": t("reports.weekly") });
  api("GET", `${base()}/reports`).then((r) => {
    weekly.replaceChildren(...(r.items.length ? r.items.map((w) => {
      const url = `${base()}/reports/${w.week}`;
      return el("li", { "data-week": w.week }, w.week, " · ",
        el("a", { href: `${url}?format=html`, target: "_blank", rel: "noopener" }, t("reports.page")), " · ",
        el("a", { href: `${url}?format=pdf`, target: "_blank", rel: "noopener" }, "PDF"), " · ",
        el("a", { href: `${url}?format=csv` }, t("reports.csv")),
        w.emailed_at ? ` · ✉ ${t("reports.emailed")}` : "");
    }) : [el("li", {}, t("reports.none"))]));
  }).catch(() => {});
  const charts = el("div", { id: "r-charts" });
  const draw = async () => {
    const q = `from=${from.value}&to=${to.value}`;
    const figure = (metric, key) => {
      const url = `${base()}/analytics/${metric}?${q}`;
      return el("figure", { class: "chart", "data-metric": metric },
        el("img", { src: `${url}&format=svg`, alt: t(key) }),
        el("figcaption", {}, t(key), " · ", el("a", { href: `${url}&format=csv` }, t("reports.csv"))));
    };
    charts.replaceChildren(figure("response-times", "reports.response"), figure("resolution", "reports.resolution"),
      figure("hour-of-week", "reports.heat"),
      figure("hot-words", "reports.words"), figure("watched-words", "reports.watched"),
      figure("churn-risk", "reports.churn"), figure("funnel", "reports.funnel"),
      figure("conversion", "reports.conversion"), figure("ctr", "reports.ctr"), figure("cost", "reports.cost"));
    try {
      const r = await api("GET", `${base()}/analytics/response-times?${q}`);
      summary.textContent = t("reports.summary", seconds(r.first_response.median_s), seconds(r.response.median_s),
        r.turns, r.unanswered);
    } catch (e) { summary.textContent = `${e.code}: ${e.message}`; }
  };
  main.replaceChildren(el("h2", {}, t("reports.title")),
    el("form", { class: "conv-head", id: "r-form" },
      el("label", { for: "r-from" }, t("reports.from")), from, el("label", { for: "r-to" }, t("reports.to")), to,
      el("button", { type: "submit", class: "primary", onclick: (ev) => { ev.preventDefault(); draw(); } }, t("reports.show"))),
    alerts, el("h3", {}, t("reports.weekly")), weekly, summary, charts);
  await draw();
}

// The header's button: whether round-robin gives this person new conversations.
function availability() {
  const button = document.getElementById("availability");
  const me = Number(meta("person"));
  const show = (on) => {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.dataset.i18n = on ? "away.available" : "away.away";
    button.textContent = t(button.dataset.i18n);
  };
  const mine = state.people.find((p) => p.id === me);
  show(!mine || mine.available !== false);
  button.onclick = async () => {
    try {
      const p = await api("PUT", `${base()}/people/${me}/available`,
        { available: button.getAttribute("aria-pressed") !== "true" });
      show(p.available);
    } catch (e) { toast(`${e.code}: ${e.message}`); }
  };
}

function keyboard() {
  document.getElementById("conversations").addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowDown" && ev.key !== "ArrowUp") return;
    const buttons = [...document.querySelectorAll("#conversations button")];
    const i = buttons.indexOf(document.activeElement);
    const next = buttons[Math.max(0, Math.min(buttons.length - 1, i + (ev.key === "ArrowDown" ? 1 : -1)))];
    if (next) { next.focus(); ev.preventDefault(); }
  });
}

async function inbox() {
  translate(document);
  keyboard();
  for (const id of ["f-assignee", "f-state", "f-tag", "f-intent"]) {
    document.getElementById(id).onchange = () => loadList().catch((e) => toast(e.message));
  }
  document.getElementById("logout").onclick = async () => {
    await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": meta("csrf") }, credentials: "same-origin" });
    location.href = "/login";
  };
  const [people, teams] = await Promise.all([
    api("GET", `${base()}/people`).catch(() => ({ items: [] })),
    api("GET", `${base()}/teams`).catch(() => ({ items: [] })),
  ]);
  state.people = people.items;
  state.teams = teams.items;
  availability();
  teamFilters();
  const reports = document.getElementById("reports");
  if (meta("role") !== "agent") {
    reports.hidden = false;
    reports.onclick = () => showReports().catch((e) => toast(e.message));
  }
  await loadList();
  const live = new EventSource(`${base()}/inbox/events`);
  live.addEventListener("change", async () => {
    await loadList().catch(() => {});
    if (state.open !== null) await openConversation(state.open).catch(() => {});
    toast(t("toast.new"));
  });
  live.onerror = () => {
    // A closed stream after the session ended: the next API call goes to the login page.
    if (live.readyState === EventSource.CLOSED) api("GET", `${base()}/teams`).catch(() => {});
  };
  setInterval(() => loadList().catch(() => {}), 30000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-lang]").forEach((b) => {
    b.onclick = () => { lang = b.dataset.lang; localStorage.setItem("scrm-lang", lang); translate(document); if (state.detail) { state.detail = null; openConversation(state.open); } };
  });
  if (document.body.dataset.page === "inbox") inbox().catch((e) => toast(e.message));
  else translate(document);
});
