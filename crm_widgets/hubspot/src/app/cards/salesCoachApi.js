/**
 * What the Sales Coach card sends to and reads from the backend, kept apart from the React
 * view so the wire format has one home. BASE is the public base URL of the Sales Coach
 * deployment; `salescoach manifests --base-url URL` rewrites it (and app-hsmeta.json's
 * permittedUrls) for a real deployment.
 */
import { hubspot } from "@hubspot/ui-extensions";

export const BASE = "https://salescoach.example.com";
export const CONTEXT_URL = `${BASE}/hubspot/card/context`;
/** hubspot.fetch gives up after 15 s at most; answer sooner so the card can say so. */
export const FETCH_TIMEOUT_MS = 10000;

const OBJECT_TYPES = { "0-1": "contact", "0-2": "company", "0-3": "deal" };

/** The JSON body of POST /hubspot/card/context, from the card's CRM context. */
export function contextRequestBody(context) {
  const crm = context?.crm ?? {};
  return {
    portalId: context?.portal?.id,
    userId: context?.user?.id,
    userEmail: context?.user?.email ?? "",
    objectId: crm.objectId,
    objectType: OBJECT_TYPES[crm.objectTypeId] ?? "contact",
  };
}

/** Only http(s) URLs may be framed or linked: never javascript: or data: URLs from a response. */
export function safeUrl(value) {
  return typeof value === "string" && /^https?:\/\//i.test(value) ? value : null;
}

export function clampScore(value) {
  const n = Number(value);
  return Number.isFinite(n) ? Math.max(0, Math.min(100, Math.round(n))) : null;
}

/** Trend points with a usable score, oldest first. */
export function trendPoints(trend) {
  return (Array.isArray(trend) ? trend : [])
    .map((point) => ({ date: String(point?.date ?? ""), score: clampScore(point?.score) }))
    .filter((point) => point.score !== null);
}

const BARS = "▁▂▃▄▅▆▇█";

/** A one-line text sparkline of 0–100 scores, e.g. "▄▅▅▆". */
export function sparkline(scores) {
  return scores.map((s) => BARS[Math.min(BARS.length - 1, Math.floor((s / 100) * BARS.length))]).join("");
}

/** "58 → 72 (+14) over 4 calls" */
export function trendSummary(points) {
  if (points.length < 2) return "";
  const first = points[0].score;
  const last = points[points.length - 1].score;
  const delta = last - first;
  return `${first} → ${last} (${delta > 0 ? "+" : ""}${delta}) over ${points.length} calls`;
}

/**
 * Calls the backend through hubspot.fetch (the only way a card may reach it; HubSpot signs
 * the request with the app's client secret) and returns the widget context object.
 * Throws an Error with a readable message for a failed request or an unexpected answer.
 */
export async function fetchCoachContext(context) {
  let response;
  try {
    response = await hubspot.fetch(CONTEXT_URL, {
      method: "POST",
      body: contextRequestBody(context),
      timeout: FETCH_TIMEOUT_MS,
    });
  } catch (error) {
    throw new Error(`Sales Coach could not be reached (${error?.message ?? error}).`);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const err = data?.error;
    const detail = err?.message ? `: ${err.message}` : ".";
    throw new Error(`Sales Coach answered ${response.status}${detail}`);
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) {
    throw new Error("Sales Coach sent an answer this card does not understand.");
  }
  return data;
}
