// AudioWorklet: mono float audio at the context rate → PCM16 at 16 kHz, posted every ~100 ms.
class PcmDownsampler extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / 16000; // input samples per output sample
    this.pos = 0; // fractional read position into `carry`
    this.carry = new Float32Array(0);
    this.out = new Int16Array(1600);
    this.n = 0;
  }
  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const ch = input[0];
    const buf = new Float32Array(this.carry.length + ch.length);
    buf.set(this.carry); buf.set(ch, this.carry.length);
    const r = this.ratio;
    const half = Math.max(0, Math.floor(r / 2));
    let p = this.pos;
    while (p + half + 1 < buf.length) {
      // box filter over the window the output sample stands for (anti-alias), then pick
      const i = Math.floor(p);
      let acc = 0, cnt = 0;
      for (let k = Math.max(0, i - half); k <= i + half; k++) { acc += buf[k]; cnt++; }
      const s = Math.max(-1, Math.min(1, acc / cnt));
      this.out[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.n === this.out.length) {
        this.port.postMessage(this.out.buffer.slice(0));
        this.n = 0;
      }
      p += r;
    }
    const keep = Math.max(0, Math.floor(p) - half);
    this.carry = buf.slice(keep);
    this.pos = p - keep;
    return true;
  }
}
registerProcessor("pcm-downsampler", PcmDownsampler);
