"""A local server speaking the Gemini ``generateContent`` REST protocol, answered by the
local deep-tier engine. Lets the ``google-genai`` SDK path run with no account.

    python -m plugin.devservers.gemini --port 8765 --api-key dev-key
    SALESCOACH_GEMINI_API_KEY=dev-key SALESCOACH_GEMINI_BASE_URL=http://127.0.0.1:8765 …
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from plugin.coach import Playbook, default_playbook
from plugin.coach.types import Turn
from plugin.llm.base import DeepRequest
from plugin.llm.local import LocalModel
from plugin.llm.prompt import parse_prompt


@dataclass
class Faults:
    """Misbehaviour on demand: the next ``count`` answers are broken in the given way."""

    mode: str = ""  # "" | malformed | delay | status | text
    count: int = 0
    status: int = 500
    delay_s: float = 0.0
    text: str = ""  # mode "text": answer this instead (a model that misbehaves)


@dataclass
class GeminiServer:
    api_key: str
    playbook: Playbook = field(default_factory=default_playbook)
    faults: Faults = field(default_factory=Faults)
    received: list[dict[str, Any]] = field(default_factory=list)  # request bodies, for audits

    def __post_init__(self) -> None:
        self._engine = LocalModel(self.playbook)
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the local engine's models now rather than inside the first request."""
        self._engine.advise(DeepRequest(turns=(Turn(0, "customer", "Is it expensive?", 0, 1),)))

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._handle(Request(environ))(environ, start_response)

    def _handle(self, req: Request) -> Response:
        stream = req.path.endswith(":streamGenerateContent")
        if req.method != "POST" or not (req.path.endswith(":generateContent") or stream):
            return _error(404, "NOT_FOUND", f"no route for {req.method} {req.path}")
        if req.headers.get("x-goog-api-key") != self.api_key:
            return _error(400, "INVALID_ARGUMENT",
                          "API key not valid. Please pass a valid API key.")
        try:
            body = json.loads(req.get_data() or b"{}")
            config = body.get("generationConfig") or {}
            prompt = "".join(p.get("text", "") for c in body["contents"] for p in c["parts"])
            task, payload = parse_prompt(prompt)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return _error(400, "INVALID_ARGUMENT", f"malformed request: {exc}")
        if task != "buyer" and (config.get("responseMimeType") != "application/json"
                                or "responseSchema" not in config):
            return _error(400, "INVALID_ARGUMENT", "this server answers JSON with a responseSchema")
        with self._lock:
            self.received.append(body)
            fault = None
            if self.faults.count > 0:
                self.faults.count -= 1
                fault = self.faults.mode
        if fault == "status":
            return _error(self.faults.status, "UNAVAILABLE", "injected failure")
        if fault == "delay":
            time.sleep(self.faults.delay_s)
        if task == "buyer":  # practice: the local buyer's line is the answer (plain text)
            text = self.faults.text if fault == "text" else str(payload.get("draft", ""))
            return _answer(text, prompt, req.path, stream)
        request = DeepRequest(turns=tuple(
            Turn(seq=t["seq"], speaker=t["speaker"], text=t["text"], start_ms=t["start_ms"],
                 end_ms=t["end_ms"]) for t in payload["turns"]))
        if task == "advise":
            text = self._engine.advise(request).model_dump_json()
        elif task == "summarise":
            text = self._engine.summarise(request).model_dump_json()
        else:
            return _error(400, "INVALID_ARGUMENT", f"unknown task {task!r}")
        if fault == "malformed":
            text = text[: len(text) // 2]
        answer = {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": len(prompt) // 4,
                              "candidatesTokenCount": len(text) // 4,
                              "totalTokenCount": (len(prompt) + len(text)) // 4},
            "modelVersion": req.path.rsplit("/", 1)[-1].split(":")[0],
        }
        return Response(json.dumps(answer), mimetype="application/json")


def _answer(text: str, prompt: str, path: str, stream: bool) -> Response:
    """A text answer, whole or as server-sent events of a few words each (``alt=sse``)."""
    def body(part: str, last: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"candidates": [{"content": {"parts": [{"text": part}],
                                                           "role": "model"}, "index": 0}],
                               "modelVersion": path.rsplit("/", 1)[-1].split(":")[0]}
        if last:
            out["candidates"][0]["finishReason"] = "STOP"
            out["usageMetadata"] = {"promptTokenCount": len(prompt) // 4,
                                    "candidatesTokenCount": len(text) // 4,
                                    "totalTokenCount": (len(prompt) + len(text)) // 4}
        return out

    if not stream:
        return Response(json.dumps(body(text, True)), mimetype="application/json")
    words = text.split(" ")
    parts = [" ".join(words[i:i + 4]) + (" " if i + 4 < len(words) else "")
             for i in range(0, len(words), 4)] or [""]
    events = "".join(f"data: {json.dumps(body(p, i == len(parts) - 1))}\r\n\r\n"
                     for i, p in enumerate(parts))
    return Response(events, mimetype="text/event-stream")


def _error(status: int, kind: str, message: str) -> Response:
    body = {"error": {"code": status, "message": message, "status": kind}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def start(api_key: str, host: str = "127.0.0.1", port: int = 0,
          playbook: Playbook | None = None) -> tuple[GeminiServer, BaseWSGIServer]:
    """Start in a daemon thread; returns the app and the server (``server.server_port``)."""
    app = GeminiServer(api_key, playbook or default_playbook())
    app.warm_up()
    server = make_server(host, port, app.wsgi, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="dev-key", help="key clients must send")
    args = parser.parse_args()
    app = GeminiServer(args.api_key)
    app.warm_up()
    print(f"Gemini-protocol server on http://{args.host}:{args.port} (key {args.api_key!r})")
    make_server(args.host, args.port, app.wsgi, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
