/**
 * A stand-in for @hubspot/ui-extensions in Vitest: each UI component renders a plain DOM
 * element carrying its props (as data-* attributes) so tests can read what the card drew;
 * `hubspot.fetch` and `hubspot.extend` are spies the tests drive.
 */
import React from "react";
import { vi } from "vitest";

function dataProps(props) {
  const out = {};
  for (const [key, value] of Object.entries(props)) {
    if (key === "children" || typeof value === "function") continue;
    out[`data-${key.toLowerCase()}`] = typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  return out;
}

function component(name, tag = "div") {
  const Component = (props) =>
    React.createElement(tag, { "data-component": name, ...dataProps(props) }, props.children);
  Component.displayName = name;
  return Component;
}

export const Flex = component("Flex");
export const Divider = component("Divider", "hr");
export const Heading = component("Heading", "h3");
export const Text = component("Text", "p");
export const List = component("List", "ul");
export const ButtonRow = component("ButtonRow");
export const ScoreCircle = component("ScoreCircle");
export const LineChart = component("LineChart");
export const EmptyState = component("EmptyState", "section");
export const ErrorState = component("ErrorState", "section");

export const LoadingSpinner = ({ label }) =>
  React.createElement("div", { "data-component": "LoadingSpinner", role: "status" }, label);

export const Button = ({ children, onClick, disabled, variant }) =>
  React.createElement(
    "button",
    { "data-component": "Button", "data-variant": variant, onClick, disabled: !!disabled },
    children
  );

export const Link = ({ children, href }) =>
  React.createElement("a", { "data-component": "Link", href: typeof href === "string" ? href : href?.url }, children);

export const hubspot = {
  fetch: vi.fn(),
  extend: vi.fn(),
};
