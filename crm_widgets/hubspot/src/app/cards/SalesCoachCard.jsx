import React, { useCallback, useEffect, useRef, useState } from "react";
import {
  Button,
  ButtonRow,
  Divider,
  EmptyState,
  ErrorState,
  Flex,
  Heading,
  LineChart,
  Link,
  List,
  LoadingSpinner,
  ScoreCircle,
  Text,
  hubspot,
} from "@hubspot/ui-extensions";
import {
  clampScore,
  fetchCoachContext,
  safeUrl,
  sparkline,
  trendPoints,
  trendSummary,
} from "./salesCoachApi.js";

hubspot.extend(({ context, actions }) => <SalesCoachCard context={context} actions={actions} />);

const PANEL_SIZE = { width: 1200, height: 800 };

/**
 * Sales Coach on a contact record: loading, the last call's score and tips with the score
 * trend, "not connected" (with how to connect), or an error with a retry.
 */
export function SalesCoachCard({ context, actions }) {
  const [state, setState] = useState({ status: "loading" });
  const requestSeq = useRef(0);

  const load = useCallback(async () => {
    const seq = ++requestSeq.current;
    setState({ status: "loading" });
    try {
      const data = await fetchCoachContext(context);
      if (seq !== requestSeq.current) return;
      setState({ status: data.connected === false ? "notConnected" : "ready", data });
    } catch (error) {
      if (seq !== requestSeq.current) return;
      setState({ status: "error", message: error?.message || "Sales Coach could not load." });
    }
  }, [context]);

  useEffect(() => {
    load();
  }, [load]);

  if (state.status === "loading") {
    return <LoadingSpinner label="Loading coaching for this contact…" layout="centered" showLabel />;
  }
  if (state.status === "error") {
    return (
      <ErrorState title="Sales Coach could not load">
        <Text>{state.message}</Text>
        <Text variant="microcopy">
          If this keeps happening, ask your HubSpot admin to check that the Sales Coach app is installed
          and that Sales Coach is running.
        </Text>
        <Button onClick={load}>Try again</Button>
      </ErrorState>
    );
  }
  if (state.status === "notConnected") {
    return <NotConnected data={state.data} />;
  }
  return <Coaching data={state.data} actions={actions} />;
}

function NotConnected({ data }) {
  const connectUrl = safeUrl(data.connect_url);
  return (
    <EmptyState title="Connect Sales Coach" layout="vertical">
      <Text>
        {data.message ||
          "This HubSpot account is not connected to Sales Coach yet. An admin connects it once; then every rep sees coaching here."}
      </Text>
      {connectUrl ? <Link href={connectUrl}>Connect Sales Coach</Link> : null}
    </EmptyState>
  );
}

function Coaching({ data, actions }) {
  const call = data.last_call && typeof data.last_call === "object" ? data.last_call : null;
  const score = clampScore(call?.score);
  const tips = (Array.isArray(call?.tips) ? call.tips : []).filter(
    (tip) => typeof tip === "string" && tip.trim() !== ""
  );
  const points = trendPoints(data.trend);
  const panelUrl = safeUrl(data.panel_url);
  const reportUrl = safeUrl(call?.report_url);
  const record = data.record ?? {};

  const openCoach = () => {
    if (!panelUrl) return;
    actions.openIframeModal({ uri: panelUrl, title: "Sales Coach", flush: true, ...PANEL_SIZE });
  };

  return (
    <Flex direction="column" gap="medium">
      {record.name ? (
        <Text format={{ fontWeight: "bold" }}>
          {record.company ? `${record.name} · ${record.company}` : record.name}
        </Text>
      ) : null}

      {call ? (
        <Flex direction="row" gap="medium" align="center">
          {score !== null ? <ScoreCircle score={score} /> : null}
          <Flex direction="column" gap="extra-small">
            <Heading>Last call</Heading>
            <Text variant="microcopy">{call.date || ""}</Text>
            {score !== null ? <Text>Score {score} / 100</Text> : null}
          </Flex>
        </Flex>
      ) : (
        <Text>No coached calls with this contact yet. Open the coach when you start the next call.</Text>
      )}

      {tips.length ? (
        <Flex direction="column" gap="extra-small">
          <Heading>Tips for the next call</Heading>
          <List variant="unordered-styled">
            {tips.map((tip, index) => (
              <Text key={`tip-${index}`}>{tip}</Text>
            ))}
          </List>
        </Flex>
      ) : null}

      {points.length >= 2 ? (
        <Flex direction="column" gap="extra-small">
          <Heading>Trend</Heading>
          <Text>
            {sparkline(points.map((p) => p.score))} {trendSummary(points)}
          </Text>
          <LineChart
            data={points}
            axes={{
              x: { field: "date", fieldType: "category", label: "Call" },
              y: { field: "score", fieldType: "linear", label: "Score" },
            }}
            options={{ showLegend: false, showDataLabels: true }}
          />
        </Flex>
      ) : null}

      <Divider />
      <ButtonRow>
        <Button variant="primary" onClick={openCoach} disabled={!panelUrl}>
          Open coach
        </Button>
        {reportUrl ? <Link href={reportUrl}>Full report</Link> : null}
      </ButtonRow>
    </Flex>
  );
}
