"""What the judge sees of one line: lexical and form features, playbook rules, context.

Pure functions over normalised text. Sentence vectors come from the embedder (optional:
without the model the judge runs on these features alone). Features are positional and
fixed in number, so a model trained once serves every playbook: a tenant's keywords, cues
and examples enter as the *values* of the rule and similarity features.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from plugin.coach.analysers.language import discounts
from plugin.coach.playbook import OBJECTION_TYPES, Playbook
from plugin.coach.text import any_match, normalise, pattern

BOW_DIM = 2048
_TOKEN = re.compile(r"[a-z0-9']+|[?%$]")
_WORD = re.compile(r"[a-z][a-z']*")


@lru_cache(maxsize=1)
def vocabulary(path: str | None) -> frozenset[str]:
    """Whole words of the encoder's WordPiece vocabulary (common English): a word outside it
    is a name or a rare word, which is how vendors nobody configured are recognised."""
    if not path or not Path(path).is_file():
        return frozenset()
    words = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.isalpha() and line.islower():
            words.add(line)
    return frozenset(words)


# Words outside the WordPiece vocabulary that are ordinary in sales talk (not names).
_COMMON = frozenset([
    "onboarding", "offboarding", "dashboards", "dashboard", "spreadsheets", "spreadsheet",
    "workflow", "workflows", "renewals", "timeline", "timelines", "rollout", "rollouts",
    "integrations", "integration", "upsell", "pricing", "invoicing", "roadmap",
    "procurement", "analytics", "signoff", "payroll", "rota", "rotas", "dispatchers",
    "dispatcher", "scheduling", "vendor", "vendors", "subscription", "subscriptions",
    "seats", "seat", "licence", "licences", "licensing", "helpdesk", "headcount", "cutover",
    "automations", "automation", "shortlisted", "shortlist", "shortlisting", "kickoff",
    "api", "apis", "sso", "crm", "erp", "saas", "um", "uh", "hmm", "mm", "yeah", "gonna",
    "wanna", "kinda", "sorta", "dunno", "ok", "okay", "alright",
])


def names_in(text: str, vocab: frozenset[str]) -> list[str]:
    """Tokens that look like proper names (vendors, products, people) in normalised text:
    alphabetic, 4+ letters, outside the encoder's vocabulary and the sales-word list."""
    if not vocab:
        return []
    out = []
    for w in _WORD.findall(text):
        w = w.strip("'")
        if w.endswith("'s"):
            w = w[:-2]
        if (len(w) >= 4 and w not in vocab and w not in _COMMON
                and not (w.endswith("s") and w[:-1] in vocab)):
            out.append(w)
    return out


def bag_of_words(text: str, vocab: frozenset[str], scale: float = 1.0) -> np.ndarray:
    """Hashed unigrams and bigrams of ``text`` (normalised), names as ``<name>`` and numbers
    as ``<num>``, L2-normalised: lexical evidence next to the sentence vector."""
    names = set(names_in(text, vocab))
    toks = []
    for tok in _TOKEN.findall(text):
        base = tok[:-2] if tok.endswith("'s") else tok
        if base in names:
            tok = "<name>"
        elif tok[0].isdigit():
            tok = "<num>"
        toks.append(tok)
    out = np.zeros(BOW_DIM, dtype=np.float32)
    for g in toks + [a + " " + b for a, b in zip(toks, toks[1:], strict=False)]:
        out[zlib.crc32(g.encode()) % BOW_DIM] += 1.0
    n = float(np.linalg.norm(out))
    return out * (scale / n) if n else out


def _rx(*alts: str) -> re.Pattern[str]:
    return re.compile("|".join(alts))


_WH = r"(what|how|why|where|who|whom|whose|which|when)"
_AUX = (r"(do|does|did|is|are|was|were|can|could|would|will|should|shall|may|might|have|has|"
        r"had|am|isn't|aren't|don't|doesn't|didn't|won't|wouldn't|can't|couldn't)")
_LEAD = r"^(?:(?:so|and|but|okay|ok|well|now|also|just|um|uh|right|alright|yeah|and so)[ ,]+)*"
FORM: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("q_end", _rx(r"\?\s*$")),
    ("q_any", _rx(r"\?")),
    ("starts_wh", _rx(_LEAD + _WH + r"\b")),
    ("starts_aux", _rx(_LEAD + _AUX + r"\b")),
    ("wh_anywhere", _rx(r"\b" + _WH + r"\b")),
    ("aux_you", _rx(r"\b" + _AUX + r" (you|we|they|it|there|i|that|this)\b")),
    ("open_imperative", _rx(r"\b(tell me|walk me|talk me|help me understand|describe|explain|"
                            r"say more|take me through|curious (how|what|why|about))\b")),
    ("indirect_q", _rx(r"\b(my question is|i was wondering|i'm wondering|wondering if|"
                       r"do you know|can i ask|could i ask|mind if i ask|i'd love to know|"
                       r"want(s)? to know (if|whether))\b")),
    ("tag_q", _rx(r"(, right|right\?|correct\?|isn't it|aren't they|yeah\?|no\?)\s*$")),
    ("announce", _rx(r"^(here's|here is|let me|what i'm hearing|what we|how we|where we|"
                     r"what i|how i|why we|what you)\b")),
    ("negation", _rx(r"\b(not|no|never|nothing|nobody|none|cannot|nor)\b|n't\b")),
    ("contrast", _rx(r"\b(but|though|although|however|except|unless|still)\b")),
    ("hedge", _rx(r"\b(maybe|perhaps|probably|i guess|i suppose|kind of|sort of|not sure|"
                  r"might|i think|i feel like|to be honest|honestly)\b")),
    ("number", _rx(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|"
                   r"forty|fifty|hundred|thousand|million|half|double)\b")),
    ("percent", _rx(r"%|\bper ?cent\b")),
    ("money", _rx(r"\$|£|€|\b(dollars?|pounds|euros|bucks|grand|k a year|per seat|a seat|"
                  r"a month|a year|per month|per year|budget|price|pricing|cost|fee|quote)\b")),
    ("weekday", _rx(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|"
                    r"tonight|today)\b")),
    ("clock", _rx(r"\b\d{1,2}(:\d\d)?\s?(am|pm|a\.m\.|p\.m\.)|\b(noon|o'clock|half past|"
                  r"morning|afternoon|\d{1,2}:\d\d)\b")),
    ("month", _rx(r"\b(january|february|march|april|may|june|july|august|september|october|"
                  r"november|december|q[1-4]|quarter|spring|summer|autumn|fall|winter|"
                  r"next year|this year|year end|year-end)\b")),
    ("deadline", _rx(r"\b(by (friday|monday|tomorrow|tonight|end of|the end|midnight|close)|"
                     r"midnight|expires?|only (until|till)|sign today|today only|"
                     r"end of (the )?(day|week|month))\b")),
    ("meeting", _rx(r"\b(call|meeting|demo|session|workshop|catch up|catch-up|calendar|invite|"
                    r"book|schedule|slot|pencil)\b")),
    ("trial", _rx(r"\b(trial|pilot|proof of concept|poc|sandbox)\b")),
    ("contract", _rx(r"\b(contract|order form|agreement|paperwork|msa|sow|signature|sign)\b")),
    ("send_material", _rx(r"\b(send|share|email|forward) (you |over )?(some|a|the|our)? ?"
                          r"(deck|case stud|brochure|material|info|information|one-pager|"
                          r"whitepaper|report|link|overview|slides)")),
    ("vague", _rx(r"\b(stay in touch|keep in touch|circle back|touch base|at some point|"
                  r"sometime|some time|down the road|when things calm|once things|"
                  r"in a while|let's see|we'll see|get back to you)\b")),
    ("promise", _rx(r"\b(guarantee|guaranteed|promise|you have my word|i swear|100 ?%|"
                    r"definitely will|for sure|absolutely will|certainly will|never (go|be) "
                    r"down|every single|no risk|risk[- ]free)\b")),
    ("free", _rx(r"\b(free|on the house|no charge|no cost|throw in|thrown in|waive|comp|"
                 r"complimentary|at no extra)\b")),
    ("discount", _rx(r"\b(discount|off the|knock|cut the price|lower the price|match their|"
                     r"beat their|price match|special price|deal just)\b")),
    ("approval", _rx(r"\b(approval|approve|sign[- ]off|my (director|manager|boss|vp)|check "
                     r"with|run it by|need to ask)\b")),
    ("rival_word", _rx(r"\b(vendor|competitor|the other guys|other provider|another provider|"
                       r"alternative|the others|their (tool|product|platform|demo|quote|offer|"
                       r"price)|they (quoted|offered|gave|showed|include)|shortlist|bake-?off|"
                       r"comparing|evaluating|looking at)\b")),
    ("badmouth", _rx(r"\b(junk|garbage|rubbish|terrible|awful|a joke|clueless|amateur|"
                      r"dinosaur|outdated|going under|bankrupt|useless|rip[- ]off|scam|"
                      r"crap|shady|sinking ship|nightmare|cowboys)\b")),
    ("legal", _rx(r"\b(compliant|compliance|certified|certification|iso|soc ?2|hipaa|gdpr|"
                  r"pci|audit|regulator|inspection|legal|lawyer|liabilit|penalt|fines?)\b")),
    ("approver", _rx(r"\b(boss|manager|director|vp|cfo|ceo|coo|cto|cio|controller|owner|board|"
                     r"procurement|purchasing|legal|lawyers|counsel|committee|head office|"
                     r"partners|trustees|council|finance|it team|security team|sign[- ]off|"
                     r"approve|approval|decides|decision)\b")),
    ("current", _rx(r"\b(current|existing|old|today we|right now we|we use|we've got|we have|"
                    r"spreadsheet|whiteboard|excel|in-house|in house|homegrown|incumbent|"
                    r"switch|switching|migrat|move off|moving off|rip out)\b")),
    ("timing", _rx(r"\b(later|not now|next quarter|next year|after|once|busy|until|till|"
                   r"revisit|come back|right now|at the moment|this year|season|freeze|"
                   r"audit|reorg|restructur|on leave|timing)\b")),
    ("need", _rx(r"\b(don't need|do not need|no need|not a priority|overkill|not a fit|"
                 r"wouldn't use|won't use|nobody would|no problem|not a problem|works fine|"
                 r"don't see|not sure we need|doesn't apply)\b")),
    ("pain", _rx(r"\b(we lose|losing|lost|struggle|struggling|pain|headache|waste|wasting|"
                 r"hours a week|manual|errors|mistakes|don't know why|no idea why|frustrat|"
                 r"problem is|issue is|biggest)\b")),
    ("purchase", _rx(r"\b(go ahead|move forward|sign up|onboard|implementation|rollout|roll it "
                     r"out|billing|invoice|annual|multi-?year|term|tier|plan include|what's "
                     r"included|seats|licen[cs]es|start date|kick ?off|get started|ready to|"
                     r"approved|signed off|funds|purchase order|po)\b")),
    ("praise", _rx(r"\b(love|lovely|great|impressive|impressed|nice|cool|awesome|amazing|"
                   r"brilliant|slick|neat|fantastic|really like)\b")),
    ("ack_open", _rx(_LEAD + r"(i (totally |completely |really |hear|understand|get)|that "
                     r"(makes|'s|is) (sense|fair|a (fair|real|good|valid))|that's fair|fair "
                     r"(enough|point)|good (point|question)|great question|thanks? (you )?for|"
                     r"i appreciate|appreciate you|i'm glad you|glad you|totally|absolutely|"
                     r"makes sense|you're right|understood|i hear you|that's a real|"
                     r"i can see why|i see why|no that's|sure that's)")),
    ("ack_any", _rx(r"\b(i understand|i hear you|makes (total |complete )?sense|that's fair|"
                    r"fair (point|concern|enough)|good that you|glad you (raised|mentioned|"
                    r"told|brought)|thanks for (raising|telling|sharing|being)|i appreciate "
                    r"(that|you|the)|i get (it|that|why)|you're right|that's a (real|valid|"
                    r"fair)|totally get|completely understand|understandable|i can see why|"
                    r"i see why|i'd feel the same|sorry to hear)\b")),
    ("filler", _rx(r"\b(um|uh|erm|hmm|like|you know|i mean)\b")),
    ("sarcasm", _rx(r"\b(oh (sure|great|yeah|wonderful|perfect|the)|yeah right|because that|"
                    r"flawless|what could go wrong|love (it )?when|thrilled|just what we "
                    r"need|that's why we)\b")),
    ("past", _rx(r"\b(used to|years ago|last year we|back then|we left|we dropped|we tried|"
                 r"already (said yes|approved|signed|sorted|solved)|was (an|a) issue)\b")),
    ("hypothetical", _rx(r"\b(if (we|you|they|legal|it) (ever|did|were)|in case|suppose|"
                         r"hypothetically|say we)\b")),
    ("question_word_statement", _rx(r"^(what i|what we|how we|where we|why we|what you|"
                                    r"how you|when we)\b")),
)
N_FORM = len(FORM)
# rules per objection type (keyword, cues), risky, discount over policy, buying, next, ack
N_RULES = 2 * len(OBJECTION_TYPES) + 5
N_SHAPE = 6  # word count bins, names, speaker
N_CONTEXT = 7
N_LEX = N_FORM + N_RULES + N_SHAPE + N_CONTEXT


@dataclass(frozen=True, slots=True)
class Context:
    """The turn before this one (calls only; single lines have none)."""

    speaker: str = ""  # "" when there is no previous turn
    question: str = "none"  # its question kind: open | closed | none
    objection: str | None = None  # the objection it raised (customer turn)
    next_step: bool = False

    def vector(self, speaker: str) -> np.ndarray:
        has = bool(self.speaker)
        other = has and self.speaker != speaker
        return np.array([has, other, other and self.question != "none",
                         other and self.question == "open", other and bool(self.objection),
                         other and self.next_step, has and not other], dtype=np.float32)


NO_CONTEXT = Context()


def form_features(t: str) -> np.ndarray:
    return np.array([bool(rx.search(t)) for _, rx in FORM], dtype=np.float32)


def rule_features(t: str, pb: Playbook, risky_rule: bool) -> np.ndarray:
    """Playbook evidence: each objection type's keyword rule and cue count, the risky rules,
    a discount above policy, buying-signal, next-step and acknowledgement keywords."""
    out = np.zeros(N_RULES, dtype=np.float32)
    for i, name in enumerate(OBJECTION_TYPES):
        obj = pb.objections.get(name)
        if obj is None:
            continue
        out[2 * i] = 1.0 if any_match(obj.keywords, t) else 0.0
        out[2 * i + 1] = min(2, sum(1 for c in obj.cues if pattern(c).search(t))) / 2.0
    k = 2 * len(OBJECTION_TYPES)
    out[k] = 1.0 if risky_rule else 0.0
    out[k + 1] = 1.0 if any(p > pb.risky.max_discount_pct for p in discounts(t)) else 0.0
    out[k + 2] = 1.0 if any_match(pb.buying_signals.keywords, t) else 0.0
    out[k + 3] = 1.0 if any_match(pb.next_steps.keywords, t) else 0.0
    first = t.split(".")[0]
    out[k + 4] = 1.0 if any_match(pb.acknowledgements.keywords, first) else 0.0
    return out


def shape_features(t: str, speaker: str, n_names: int) -> np.ndarray:
    n = len(t.split())
    return np.array([n <= 4, 5 <= n <= 15, 16 <= n <= 39, n >= 40, min(n_names, 2) / 2.0,
                     speaker == "rep"], dtype=np.float32)


def lexical(text: str, speaker: str, pb: Playbook, vocab: frozenset[str],
            context: Context = NO_CONTEXT, risky_rule: bool = False) -> np.ndarray:
    """Every non-vector feature of one line, in a fixed order (length ``N_LEX``)."""
    t = normalise(text)
    return np.concatenate([form_features(t), rule_features(t, pb, risky_rule),
                           shape_features(t, speaker, len(names_in(t, vocab))),
                           context.vector(speaker)])


WINDOW_WORDS = 24
WINDOW_STRIDE = 16
WHOLE_WORDS = 96
MAX_WINDOWS = 4


def windows(text: str) -> list[str]:
    """Overlapping word windows of a long line (the moment may sit in its middle), at most
    MAX_WINDOWS, spread evenly; a short line is its own single window."""
    ws = text.split()
    if len(ws) <= WINDOW_WORDS + 6:
        return [" ".join(ws)]
    starts = list(range(0, len(ws) - WINDOW_WORDS + 1, WINDOW_STRIDE))
    if starts[-1] + WINDOW_WORDS < len(ws):
        starts.append(len(ws) - WINDOW_WORDS)
    if len(starts) > MAX_WINDOWS:
        step = (len(starts) - 1) / (MAX_WINDOWS - 1)
        starts = [starts[round(i * step)] for i in range(MAX_WINDOWS)]
    return [" ".join(ws[s:s + WINDOW_WORDS]) for s in starts]


def encoder_texts(text: str) -> list[str]:
    """What the encoder sees of a line: the line (clipped), then its windows if long."""
    ws = text.split()
    whole = " ".join(ws[:WHOLE_WORDS])
    wins = windows(text)
    return [whole] if len(wins) == 1 else [whole, *wins]


def pool(vectors: np.ndarray) -> np.ndarray:
    """(whole-line vector, element-wise max over windows): 768 numbers."""
    whole = vectors[0]
    mx = vectors[1:].max(axis=0) if vectors.shape[0] > 1 else whole
    return np.concatenate([whole, mx])


def stack(rows: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)
