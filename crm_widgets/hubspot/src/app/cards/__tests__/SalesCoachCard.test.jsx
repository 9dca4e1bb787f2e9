import React from "react";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { hubspot } from "@hubspot/ui-extensions";
import { SalesCoachCard } from "../SalesCoachCard.jsx";
import { BASE, CONTEXT_URL, FETCH_TIMEOUT_MS, sparkline, trendSummary } from "../salesCoachApi.js";
import CONNECTED from "./data/contextConnected.json";
import NOT_CONNECTED from "./data/contextNotConnected.json";

vi.mock("@hubspot/ui-extensions", () => import("./hubspotSdkMock.jsx"));

// The card's extension-point context as HubSpot passes it on a contact record.
const CONTEXT = {
  portal: { id: 20011, timezone: "Europe/Berlin" },
  user: { id: 501, email: "rep@northwind.example" },
  crm: { objectId: 51, objectTypeId: "0-1" },
};

/** A Response-like answer from hubspot.fetch. */
function answer(status, body) {
  return {
    ok: status >= 200 && status < 300,
    status,
    json: async () => {
      if (typeof body === "string") throw new SyntaxError("Unexpected token < in JSON");
      return body;
    },
  };
}

function renderCard(actions = { openIframeModal: vi.fn() }) {
  const view = render(<SalesCoachCard context={CONTEXT} actions={actions} />);
  return { ...view, actions };
}

const byComponent = (container, name) => container.querySelectorAll(`[data-component="${name}"]`);

describe("SalesCoachCard", () => {
  beforeEach(() => {
    hubspot.fetch.mockReset();
  });
  afterEach(() => {
    cleanup();
  });

  it("shows a loading spinner while the backend is answering", () => {
    hubspot.fetch.mockReturnValue(new Promise(() => {}));
    renderCard();
    expect(screen.getByRole("status").textContent).toContain("Loading coaching");
  });

  it("asks the backend only through hubspot.fetch with the record's context", async () => {
    hubspot.fetch.mockResolvedValue(answer(200, CONNECTED));
    renderCard();
    await screen.findByText("Open coach");

    expect(hubspot.fetch).toHaveBeenCalledTimes(1);
    expect(hubspot.fetch).toHaveBeenCalledWith(`${BASE}/hubspot/card/context`, {
      method: "POST",
      body: { portalId: 20011, userId: 501, userEmail: "rep@northwind.example", objectId: 51, objectType: "contact" },
      timeout: FETCH_TIMEOUT_MS,
    });
    expect(CONTEXT_URL).toBe("https://salescoach.example.com/hubspot/card/context");
    expect(FETCH_TIMEOUT_MS).toBeLessThanOrEqual(15000);
  });

  it("shows the last call score, tips and trend", async () => {
    hubspot.fetch.mockResolvedValue(answer(200, CONNECTED));
    const { container } = renderCard();
    await screen.findByText("Open coach");

    expect(byComponent(container, "ScoreCircle")[0].dataset.score).toBe("72");
    expect(screen.getByText("Score 72 / 100")).toBeTruthy();
    expect(screen.getByText("2026-11-03")).toBeTruthy();
    for (const tip of CONNECTED.last_call.tips) {
      expect(screen.getByText(tip)).toBeTruthy();
    }
    expect(screen.getByText(/58 → 72 \(\+14\) over 4 calls/)).toBeTruthy();
    const chart = byComponent(container, "LineChart")[0];
    expect(JSON.parse(chart.dataset.data).map((p) => p.score)).toEqual([58, 64, 61, 72]);
    expect(screen.getByText("Full report").getAttribute("href")).toBe(CONNECTED.last_call.report_url);
  });

  it("opens the coach panel in an iframe modal", async () => {
    hubspot.fetch.mockResolvedValue(answer(200, CONNECTED));
    const { actions } = renderCard();
    fireEvent.click(await screen.findByText("Open coach"));

    expect(actions.openIframeModal).toHaveBeenCalledTimes(1);
    const [payload] = actions.openIframeModal.mock.calls[0];
    expect(payload).toMatchObject({ uri: CONNECTED.panel_url, title: "Sales Coach" });
    expect(payload.width).toBeGreaterThan(0);
    expect(payload.height).toBeGreaterThan(0);
  });

  it("says how to connect when the account is not connected", async () => {
    hubspot.fetch.mockResolvedValue(answer(200, NOT_CONNECTED));
    renderCard();
    expect(await screen.findByText(NOT_CONNECTED.message)).toBeTruthy();
    expect(screen.getByText("Connect Sales Coach", { selector: "a" }).getAttribute("href")).toBe(
      NOT_CONNECTED.connect_url
    );
    expect(screen.queryByText("Open coach")).toBeNull();
  });

  it("shows the backend's error and loads again on Try again", async () => {
    hubspot.fetch
      .mockResolvedValueOnce(
        answer(401, { error: { code: "invalid_signature", message: "signature does not match", details: {} } })
      )
      .mockResolvedValueOnce(answer(200, CONNECTED));
    renderCard();

    expect(await screen.findByText("Sales Coach answered 401: signature does not match")).toBeTruthy();
    fireEvent.click(screen.getByText("Try again"));
    expect(await screen.findByText("Open coach")).toBeTruthy();
    expect(hubspot.fetch).toHaveBeenCalledTimes(2);
  });

  it("reports an unreachable backend", async () => {
    hubspot.fetch.mockRejectedValue(new Error("Request timed out"));
    renderCard();
    expect(await screen.findByText("Sales Coach could not be reached (Request timed out).")).toBeTruthy();
  });

  it("treats an answer that is not JSON as an error", async () => {
    hubspot.fetch.mockResolvedValue(answer(200, "<html>gateway</html>"));
    renderCard();
    expect(await screen.findByText("Sales Coach sent an answer this card does not understand.")).toBeTruthy();
  });

  it("says so when the contact has no coached calls", async () => {
    hubspot.fetch.mockResolvedValue(answer(200, { ...CONNECTED, last_call: null, trend: [] }));
    const { container } = renderCard();
    expect(await screen.findByText(/No coached calls with this contact yet/)).toBeTruthy();
    expect(byComponent(container, "LineChart")).toHaveLength(0);
  });

  it("never opens a panel URL that is not http(s)", async () => {
    hubspot.fetch.mockResolvedValue(answer(200, { ...CONNECTED, panel_url: "javascript:alert(1)" }));
    const { actions } = renderCard();
    const button = await screen.findByText("Open coach");
    expect(button.disabled).toBe(true);
    fireEvent.click(button);
    expect(actions.openIframeModal).not.toHaveBeenCalled();
  });

  it("registers itself with hubspot.extend and renders from the extension context", async () => {
    vi.resetModules();
    const sdk = await import("@hubspot/ui-extensions");
    sdk.hubspot.extend.mockClear();
    sdk.hubspot.fetch.mockResolvedValue(answer(200, CONNECTED));
    await import("../SalesCoachCard.jsx");
    expect(sdk.hubspot.extend).toHaveBeenCalledTimes(1);

    const renderExtension = sdk.hubspot.extend.mock.calls[0][0];
    const actions = { openIframeModal: vi.fn() };
    await act(async () => {
      render(renderExtension({ context: CONTEXT, actions }));
    });
    await waitFor(() => expect(sdk.hubspot.fetch).toHaveBeenCalledWith(CONTEXT_URL, expect.any(Object)));
  });
});

describe("salesCoachApi helpers", () => {
  it("draws a text sparkline that rises with the score", () => {
    expect(sparkline([0, 50, 100])).toBe("▁▅█");
  });

  it("summarises the trend from first to last call", () => {
    expect(trendSummary([{ score: 70 }, { score: 61 }])).toBe("70 → 61 (-9) over 2 calls");
    expect(trendSummary([{ score: 70 }])).toBe("");
  });
});
