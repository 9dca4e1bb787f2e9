"""Gemini through the official ``google-genai`` SDK, with schema-validated answers."""

from __future__ import annotations

import logging
from typing import TypeVar

from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, ValidationError

from plugin.llm.base import CallSummary, DeepAdvice, DeepRequest, LanguageModel
from plugin.llm.prompt import SYSTEM, build_prompt
from plugin.providers.errors import ProviderError, ProviderUnavailable, classify_status

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)


class GeminiModel(LanguageModel):
    """Deep tier on Gemini. Every answer is validated against its pydantic schema."""

    name = "gemini"

    def __init__(self, api_key: str, model: str = "gemini-2.5-flash", base_url: str = "",
                 timeout_s: float = 8.0) -> None:
        options = types.HttpOptions(timeout=int(timeout_s * 1000),
                                    base_url=base_url or None)
        self._client = genai.Client(api_key=api_key, http_options=options)
        self.model = model

    def advise(self, request: DeepRequest) -> DeepAdvice:
        return self._generate("advise", request, DeepAdvice)

    def summarise(self, request: DeepRequest) -> CallSummary:
        return self._generate("summarise", request, CallSummary)

    def _generate(self, task: str, request: DeepRequest, schema: type[T]) -> T:
        config = types.GenerateContentConfig(
            system_instruction=SYSTEM, response_mime_type="application/json",
            response_schema=schema, temperature=0.2,
        )
        try:
            resp = self._client.models.generate_content(
                model=self.model, contents=build_prompt(task, request), config=config)
        except genai_errors.APIError as exc:
            cls = classify_status(int(exc.code or 500))
            raise cls(f"gemini {task} failed: {exc.code} {exc.message}", status=exc.code) from exc
        except Exception as exc:  # noqa: BLE001 - timeouts and transport errors from httpx
            raise ProviderUnavailable(f"gemini {task} failed: {type(exc).__name__}: {exc}") from exc
        text = resp.text or ""
        try:
            return schema.model_validate_json(text)
        except ValidationError as exc:
            raise ProviderError(f"gemini {task} answer does not match the schema: "
                                f"{exc.errors()[0]['msg']}") from exc
