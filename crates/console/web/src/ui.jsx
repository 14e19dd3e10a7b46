// Shared pieces: polling, tables, dialogs, copy buttons, error boxes, the hash router's link.
//
// Every string from the API is rendered as a text node by Preact (escaped); nothing here
// writes HTML from data.
import { useEffect, useRef, useState, useCallback } from "preact/hooks";
import { errorText } from "./aws.js";

// Runs `load` now and again `everyMs` after each load finishes (no page reload, and never two
// loads of one page at once, however slow the API); returns {data, error, loaded, reload}.
// Until the first load is done, `load(onPartial)` may report what it has so far (a list's
// first pages) with `onPartial(data)`; later polls replace the data only when complete.
export function usePoll(load, everyMs, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loaded: false });
  // Each mount and each change of `deps` is a generation; answers of an older one are dropped.
  const generation = useRef(0);
  const hasData = useRef(false);
  const run = useCallback(async (g = generation.current) => {
    const onPartial = (data) => {
      if (g === generation.current && !hasData.current) {
        setState({ data, error: null, loaded: true, partial: true });
      }
    };
    try {
      const data = await load(onPartial);
      if (g === generation.current) {
        hasData.current = true;
        setState({ data, error: null, loaded: true });
      }
    } catch (error) {
      if (g === generation.current) setState((s) => ({ data: s.data, error, loaded: true }));
    }
  }, deps);
  useEffect(() => {
    const g = ++generation.current;
    hasData.current = false;
    let timer = null;
    const loop = async () => {
      await run(g);
      if (g === generation.current && everyMs) timer = setTimeout(loop, everyMs);
    };
    loop();
    return () => {
      generation.current++;
      if (timer) clearTimeout(timer);
    };
  }, [run]);
  return { ...state, reload: () => run() };
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return (
    <div class="alert error" role="alert">
      {typeof error === "string" ? error : errorText(error)}
    </div>
  );
}

export function Notice({ children }) {
  return <div class="alert info" role="status">{children}</div>;
}

export function Link({ to, children, ...rest }) {
  return <a href={`#${to}`} {...rest}>{children}</a>;
}

export function navigate(to) {
  window.location.hash = to;
}

export function Status({ value }) {
  const v = (value || "").toLowerCase();
  const kind =
    v === "available" || v === "active" || v === "ok" || v === "in-sync"
      ? "ok"
      : v === "deleting" || v === "alarm" || v.includes("fail") || v === "incompatible-network"
        ? "bad"
        : "busy";
  return <span class={`status ${kind}`}>{value || "-"}</span>;
}

export function Table({ columns, rows, empty, rowKey, label }) {
  return (
    <table class="grid" aria-label={label}>
      <thead>
        <tr>{columns.map((c) => <th key={c.title}>{c.title}</th>)}</tr>
      </thead>
      <tbody>
        {rows.length === 0 ? (
          <tr><td colSpan={columns.length} class="empty">{empty || "No resources"}</td></tr>
        ) : (
          rows.map((row, i) => (
            <tr key={rowKey ? rowKey(row) : i}>
              {columns.map((c) => <td key={c.title}>{c.render(row)}</td>)}
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

export function CopyButton({ text, label }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      // Without clipboard access (plain http on another host), select the text instead.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); } catch (_) { /* nothing more to try */ }
      area.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return (
    <button type="button" class="copy" onClick={copy} aria-label={label || `Copy ${text}`}>
      {done ? "Copied" : "Copy"}
    </button>
  );
}

export function Code({ text }) {
  return (
    <div class="code">
      <code>{text}</code>
      <CopyButton text={text} />
    </div>
  );
}

// A modal dialog; `confirmWord` (if set) must be typed before the action button works.
export function Dialog({ title, children, action, onConfirm, onCancel, confirmWord, busy, error }) {
  const [typed, setTyped] = useState("");
  const ready = !confirmWord || typed === confirmWord;
  return (
    <div class="backdrop">
      <div class="dialog" role="dialog" aria-modal="true" aria-label={title}>
        <h2>{title}</h2>
        {children}
        {confirmWord ? (
          <label class="field">
            <span>To confirm, type <b>{confirmWord}</b> in the field.</span>
            <input value={typed} onInput={(e) => setTyped(e.currentTarget.value)}
              aria-label="Confirmation" />
          </label>
        ) : null}
        <ErrorBox error={error} />
        <div class="buttons">
          <button type="button" onClick={onCancel}>Cancel</button>
          <button type="button" class="primary" disabled={!ready || busy} onClick={onConfirm}>
            {action}
          </button>
        </div>
      </div>
    </div>
  );
}

export function Field({ label, hint, children }) {
  return (
    <div class="field">
      <label>
        <span class="label">{label}</span>
        {children}
      </label>
      {hint ? <span class="hint">{hint}</span> : null}
    </div>
  );
}

export function KeyValue({ items }) {
  return (
    <dl class="kv">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v === undefined || v === null || v === "" ? "-" : v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function when(date) {
  if (!date) return "-";
  const d = date instanceof Date ? date : new Date(date);
  return Number.isNaN(d.getTime()) ? "-" : d.toLocaleString();
}

export function nameTag(resource) {
  const tag = (resource.Tags || []).find((t) => t.Key === "Name");
  return tag ? tag.Value : "";
}

// The page-by-page navigation of a long list, as the AWS console's tables have it.
export function Pager({ page, pages, onPage, label }) {
  if (pages <= 1) return null;
  // At most 7 numbered buttons: the first, the last and the current page's neighbours.
  const shown = [...new Set([1, page - 1, page, page + 1, pages].filter((n) => n >= 1 && n <= pages))]
    .sort((a, b) => a - b);
  const items = [];
  shown.forEach((n, i) => {
    if (i > 0 && n - shown[i - 1] > 1) items.push(<span key={`gap${n}`} class="gap">…</span>);
    items.push(
      <button type="button" key={n} class={n === page ? "on" : ""} aria-current={n === page ? "page" : undefined}
        aria-label={`Page ${n}`} onClick={() => onPage(n)}>{n}</button>);
  });
  return (
    <nav class="pager" aria-label={label || "Pages"}>
      <button type="button" aria-label="Previous page" disabled={page <= 1}
        onClick={() => onPage(page - 1)}>‹</button>
      {items}
      <button type="button" aria-label="Next page" disabled={page >= pages}
        onClick={() => onPage(page + 1)}>›</button>
    </nav>
  );
}
