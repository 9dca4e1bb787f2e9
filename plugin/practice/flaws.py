"""What a manager would stop in a practice reply: badmouthing, claims the scenario's facts do
not support, unapproved discounts or concessions, guarantees, pushy closes, off-topic and
one-word replies.

Each flaw is found per sentence where it can be, so the stronger answer can drop exactly the
sentences that carry one. Pure functions over the reply, the scenario and the coach engine's
reading of the reply; the caps (what a flawed reply can score at most) are in ``CAPS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from plugin.practice.scenarios import Scenario

# Overall score a reply carrying the flaw can reach at most (docs/practice.md, rubric).
CAPS = {"badmouth": 32, "unsupported_claim": 32, "discount": 32, "guarantee": 32,
        "pushy_close": 36, "off_topic": 18, "one_word": 12}
LABELS = {
    "badmouth": "Badmouthing",
    "unsupported_claim": "Claim the facts don't support",
    "discount": "Unapproved discount or concession",
    "guarantee": "Guarantee or promise of an outcome",
    "pushy_close": "Pushy close",
    "off_topic": "Off topic",
    "one_word": "Too short",
}
ADVICE = {
    "badmouth": "Never run down a competitor, the buyer's vendor or their team; "
                "differentiate on facts instead.",
    "unsupported_claim": "Claim only what the product facts support (the brief lists them).",
    "discount": "Stay inside the discount policy and trade any concession for something.",
    "guarantee": "Don't guarantee outcomes; offer proof (a reference, a pilot) instead.",
    "pushy_close": "Don't pressure for a decision; propose a next step the buyer can accept.",
    "off_topic": "Answer what the buyer just said.",
    "one_word": "Give a full answer: acknowledge, ask, respond, confirm.",
}

# Insults whatever their target; harsh words that are badmouthing when aimed at someone else.
_INSULT = re.compile(
    r"\b(?:garbage|junk|joke|toy|trash|rubbish|useless|pathetic|scam(?:mers)?|crooks?|liars?|"
    r"lying|clueless|incompetent|amateurs?|lazy|idiots?|stupid|worthless|shady|dishonest|"
    r"sucks?|crap(?:py)?|morons?)\b", re.IGNORECASE)
_HARSH = re.compile(
    r"\b(?:terrible|awful|horrible|disaster|mess|hopeless|waste of (?:time|money)|bad product|"
    r"can(?:'t|not) be trusted|wouldn't trust|hostage|going (?:under|bankrupt)|falling apart|"
    r"never deliver|rip(?:-| )?off)\b", re.IGNORECASE)
# Put-downs that need a target (someone else: a rival, the buyer's team, vendor or process).
_PUTDOWN = re.compile(
    r"\b(?:clunky|flimsy|ancient|relic|outdated|embarrassing|botched|short-sighted|"
    r"cutting corners|bargain[- ]bin|afterthought|box[- ]ticking|theat(?:re|er)|black hole|"
    r"coin toss|laugh(?:s|ed|ing)? (?:at|about) (?:it|them)|know better|nobody serious|"
    r"(?:pulled|out) (?:out )?of thin air|not exactly (?:quick|smart|bright|sharp)|"
    r"as slow as|covering themselves|a mess|you get what you pay for|with a logo|"
    r"lie (?:on|about|to)|get rid of people|says more about|if your \w+ (?:read|listened|did)|"
    r"(?:legacy|old) (?:things|junk|dinosaurs?)|dinosaurs?|amateur hour|no offen[cs]e|"
    r"wasting|waste (?:fuel|money|time))\b", re.IGNORECASE)
# Someone other than the rep and their product: a rival, the buyer's vendor, team or process.
OTHERS = re.compile(
    r"\b(?:competitors?|other vendors?|the other guys|they(?:'re| are)?|them|their|"
    r"your (?:current |old )?(?:vendor|agency|provider|process|team|system|tool|people)s?|"
    r"(?:our|the) support team|spreadsheets|those (?:guys|people|folks|vendors)|whoever|"
    r"most (?:\w+ )?(?:vendors|teams|people)|(?:\w+ )?departments?|your (?:\w+ )?(?:agents|"
    r"leads|budget(?:ing)?|legal|it|web|security|team|agency|setup|tool|planner|lead)s?|"
    r"(?:the )?other (?:\w+ )?(?:desks|tools|vendors|ones|guys)|banks)\b", re.IGNORECASE)

# Certifications a reply may only claim when the scenario's facts state them.
_STANDARDS = (
    "iso 27001", "iso 27701", "iso 27017", "iso 9001", "fedramp", "hipaa", "hitrust",
    "pci dss", "pci", "soc 1", "soc 3", "soc 2", "type ii", "gdpr certified", "cyber essentials",
    "csa star", "partner of the year", "open-source", "open source",
)
# Absolutes no product fact supports.
_ABSOLUTES = re.compile(
    r"\b(?:every (?:single )?(?:one of (?:our|the) )?(?:\w+ )?"
    r"(?:customers?|clients?|compan(?:y|ies)|fleets?|teams?|users?|analysts?)|"
    r"all (?:of )?our (?:customers|clients|users)|no exceptions|"
    r"never (?:had|been|failed|missed|lost|taken)|100% (?:accurate|secure|uptime|reliable)|"
    r"zero (?:downtime|risk|breaches)|number one|#1|best in the (?:market|world|industry)|"
    r"the only\b[^.?!]{0,40}\b(?:platform|vendor|tool|product|company)|"
    r"(?:certified|authori[sz]ed|approved|endorsed|rated[^.?!]{0,30}) by|"
    r"zero (?:latency|errors|bugs|churn)|product of the year|award[- ]winning|won (?:the )?\w+ "
    r"award|(?:gartner|forrester|idc)\b[^.?!]{0,40}|named us|"
    r"(?:over|more than) (?:[\d,]+|a (?:thousand|million)) (?:\w+ )?(?:customers|companies|"
    r"clients|teams|distributors)|shipping next (?:month|week|quarter)|coming soon)\b",
    re.IGNORECASE)
_GENERIC_CERT = re.compile(r"\b(?:certified|certification|accredited|authori[sz]ed)\b",
                           re.IGNORECASE)
_GUARANTEE = re.compile(
    r"\b(?:guarantee[ds]?|guaranteeing|i promise|promise you|risk[- ]free|no risk|"
    r"100% (?:sure|certain)|will never happen again)\b", re.IGNORECASE)
_PUSHY = re.compile(
    r"\b(?:sign(?:ing)? (?:it |this |the [a-z ]{1,30} )?(?:today|now|right now|this week|tonight|"
    r"by (?:friday|tomorrow|end of (?:day|the week)))|decide (?:today|now|right now)|today only|"
    r"last chance|price goes up|won't be around|(?:before|or) (?:the price|your competitors)|"
    r"take it or leave it|(?:take|leave) the price|no-brainer|(?:through|over|sign|decide|commit) "
    r"right now|can't wait|won't wait|"
    r"need this (?:today|now)|you (?:need|have) to (?:sign|decide|commit|buy|put me)|just sign|"
    r"don't overthink|skip (?:it|the [a-z]+)|renew today|stop (?:stalling|delaying)|"
    r"overthink it|just say yes|tell me yes|yes or no|just (?:renew|sign|agree|buy)|lock it in|"
    r"get (?:it|this|the contract) signed|signed (?:first|before)|"
    r"(?:before|by) (?:you hang up|we (?:hang up|finish|end)|the end of (?:this|the) (?:call|"
    r"meeting)|i leave)|off the table|expires? (?:at|tonight|tomorrow|on|by)|"
    r"(?:pull|release|give|offer) (?:this |the |your )?(?:\w+ )?(?:pricing|price|slot|offer|"
    r"discount) (?:to|at|if|unless|by)|(?:hold|keep) (?:this|the) (?:\w+ )?(?:slot|price|"
    r"offer) for|within the hour|(?:straight|right) through|pull (?:him|her|them) out|"
    r"keep calling|i'll hold|the longer (?:we|you) wait|talk you out of|"
    r"(?:debate|debating|negotiating) (?:\w+ )?(?:forever|any more|anymore)|"
    r"not going to keep negotiating|last time i can|on a card before|"
    r"need (?:a yes|an answer|your signature|it back) (?:from you )?(?:before|by|within|on this)|"
    r"agree [a-z ]{0,30}on this call|renew(?:ed)? without this much)\b",
    re.IGNORECASE)
_CONCESSION = re.compile(
    r"\b(?:(?:\w+ )?(?:months?|weeks?|years?) (?:for )?free|for free|free (?:months?|years?)|"
    r"refund|in half|half (?:price|off)|waive[ds]?|on the house|throw in|at no cost|no charge|"
    r"match (?:them|their price|the price|any (?:price|quote|offer))|free until|"
    r"halve (?:the|your|our) price|(?:first|next) (?:\w+ ){0,2}(?:months?|weeks?|years?)"
    r"[^.?!]{0,40}\bfree)\b", re.IGNORECASE)
_MONEY = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)\s*(k\b|million\b|m\b)?", re.IGNORECASE)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)
_DISCOUNT_AFTER = re.compile(
    r"^\s*(?:[\w-]+\s+){0,2}?(?:off\b|discount|reduction|lower price|cheaper)", re.IGNORECASE)
_DISCOUNT_BEFORE = re.compile(
    r"(?:discount|take|knock|price cut|do|offer|give you)\s*(?:of|by)?\s*(?:up to\s*)?$",
    re.IGNORECASE)
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
# Small talk: never an answer to a buyer's objection.
_OFF_TOPIC = re.compile(
    r"\b(?:the game|football|soccer|weather|holidays?|weekend|vacation|restaurants?|coffee|"
    r"parking|lovely day|how(?:'s| is| has) your (?:week|day|morning)|any plans|tv series|movie|"
    r"the match|gym|golf(?:er)?|basketball|my (?:dog|cat|kid|kids|daughter|son|wife|husband)|"
    r"office dog|podcast|restaurant|fun runs?|the news|giveaway|linkedin)\b",
    re.IGNORECASE)

_ABBREV = re.compile(r"\b(Mr|Mrs|Ms|Dr|Prof|St|Inc|Ltd|Co|vs|etc|approx|e\.g|i\.e|No)\.",
                     re.IGNORECASE)
_SENTENCE = re.compile(r"[^.?!]+[.?!]*")


def sentences(text: str) -> list[str]:
    """Sentences of ``text``; "Mr.", "e.g." and other abbreviations don't end one."""
    protected = _ABBREV.sub(lambda m: m.group(0).replace(".", "\x00"), text)
    protected = re.sub(r"(\d)\.(\d)", "\\1\x00\\2", protected)
    out = []
    for s in _SENTENCE.findall(protected):
        s = s.replace("\x00", ".").strip()
        if any(c.isalnum() for c in s):
            out.append(s)
    return out


@dataclass(frozen=True, slots=True)
class Flaw:
    kind: str
    evidence: str  # the words that carry it
    sentence: str  # the sentence it is in ("" when it is about the whole reply)

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "label": LABELS[self.kind], "evidence": self.evidence,
                "sentence": self.sentence}


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("\u2019", "'").split())


_FACTS: dict[int, tuple[Scenario, str, frozenset[float]]] = {}


def _facts(scenario: Scenario) -> tuple[str, frozenset[float]]:
    """The scenario's stated facts as one normalised text, and every figure in them (cached
    per scenario object)."""
    hit = _FACTS.get(id(scenario))
    if hit is not None and hit[0] is scenario:
        return hit[1], hit[2]
    parts = [scenario.summary, scenario.product.name, scenario.product.summary,
             *scenario.product.value_points, *scenario.product.pricing, scenario.opening,
             *[f.answer for f in scenario.persona.facts]]
    for o in scenario.objections:
        parts += o.phrasings + [ex for kp in o.key_points for ex in kp.examples]
    parts += [ex for kp in scenario.closing.key_points for ex in kp.examples]
    text = _norm(" ".join(parts))
    numbers = frozenset(float(m.group(0).replace(",", "")) for m in _NUMBER.finditer(text))
    if len(_FACTS) >= 256:
        _FACTS.pop(next(iter(_FACTS)))
    _FACTS[id(scenario)] = (scenario, text, numbers)
    return text, numbers


def offered_discounts(text: str) -> list[float]:
    """Percentages offered off the price ("10% off", "a discount of 20%", "do 30% off")."""
    out = []
    for m in _PERCENT.finditer(text):
        after = text[m.end(): m.end() + 20]
        before = text[max(0, m.start() - 25): m.start()]
        if _DISCOUNT_AFTER.match(after) or _DISCOUNT_BEFORE.search(before):
            out.append(float(m.group(1)))
    return out


def _sentence_flaws(sent: str, scenario: Scenario, competitors: list[str],
                    said: str) -> list[Flaw]:
    flaws: list[Flaw] = []
    facts, numbers = _facts(scenario)
    said = _norm(said)
    numbers = numbers | {float(m.group(0).replace(",", "")) for m in _NUMBER.finditer(said)}
    names = [c for c in competitors if c and c.lower() in sent.lower()]
    insult = _INSULT.search(sent)
    harsh = _HARSH.search(sent)
    putdown = _PUTDOWN.search(sent)
    if insult or ((harsh or putdown) and (names or OTHERS.search(sent))):
        word = (insult or harsh or putdown).group(0)  # type: ignore[union-attr]
        flaws.append(Flaw("badmouth", f"{names[0]}: {word}" if names else word, sent))
    for std in _STANDARDS:
        if re.search(r"(?<![a-z0-9])" + re.escape(std) + r"(?![a-z0-9])", sent.lower()) \
                and std not in facts:
            flaws.append(Flaw("unsupported_claim", std.upper() if len(std) < 6 else std, sent))
            break
    else:
        ab = _ABSOLUTES.search(sent)
        if ab:
            flaws.append(Flaw("unsupported_claim", ab.group(0), sent))
        elif _GENERIC_CERT.search(sent) and not any(
                std in sent.lower() and std in facts for std in _STANDARDS):
            flaws.append(Flaw("unsupported_claim", _GENERIC_CERT.search(sent).group(0),  # type: ignore[union-attr]
                              sent))
    for m in _MONEY.finditer(sent):
        unit = (m.group(2) or "").lower()
        value = float(m.group(1).replace(",", "")) * (
            1000 if unit == "k" else 1_000_000 if unit in ("million", "m") else 1)
        if value not in numbers:
            flaws.append(Flaw("unsupported_claim", f"${m.group(1)}{m.group(2) or ''} is not in "
                                                   "the price list", sent))
    discounts = offered_discounts(sent)
    for m in _PERCENT.finditer(sent):
        value = float(m.group(1))
        if value in discounts:
            if value > scenario.product.max_discount_pct:
                flaws.append(Flaw("discount", f"{m.group(0).strip()} off (policy "
                                              f"{scenario.product.max_discount_pct}%)", sent))
        elif value not in numbers:
            flaws.append(Flaw("unsupported_claim", f"{m.group(0).strip()} is not a figure the "
                                                   "facts support", sent))
    con = _CONCESSION.search(sent)
    if con and not _concession_in_facts(con.group(0), sent, facts):
        flaws.append(Flaw("discount", con.group(0), sent))
    g = _GUARANTEE.search(sent)
    if g and "guarantee" not in facts:
        flaws.append(Flaw("guarantee", g.group(0), sent))
    p = _PUSHY.search(sent)
    if p:
        flaws.append(Flaw("pushy_close", p.group(0), sent))
    return flaws


def _concession_in_facts(hit: str, sent: str, facts: str) -> bool:
    """A "free" the price list offers (a 30-day free pilot) is not a concession."""
    h = hit.lower()
    if "free" not in h or "until" in h or re.search(r"\b(?:first|next)\b", h):
        return False
    if re.search(r"\b(?:months?|years?)\b", h) and not re.search(r"\d", h):
        return False  # "six months free": months of the plan, not the pilot the facts offer
    span = re.search(r"(\d+)[- ](day|week|month)", sent.lower())
    return "free" in facts and (span is None or f"{span.group(1)} {span.group(2)}" in facts)


_STOP = frozenset({
    "the", "and", "but", "for", "with", "that", "this", "from", "have", "your", "you", "our",
    "are", "was", "were", "will", "would", "could", "should", "about", "what", "when", "where",
    "which", "there", "their", "them", "they", "then", "than", "just", "like", "into", "also",
    "really", "very", "some", "more", "much", "been", "being", "here", "okay", "sure", "yeah",
    "well", "know", "think", "maybe",
})


def _content_words(text: str) -> set[str]:
    """Stems (first five letters) of the words that carry meaning."""
    return {w[:5] for w in re.findall(r"[a-z]{4,}", text.lower()) if w not in _STOP}


def find_flaws(reply: str, scenario: Scenario, analysis: Any = None, *,
               relevance: float = 1.0, covered: int = 0, said: str = "") -> list[Flaw]:
    """Every flaw in ``reply`` (at most one of each kind per sentence), in reading order.

    ``analysis``: the coach engine's ``UtteranceAnalysis`` of the reply (its competitor
    mentions join the rules); ``relevance``/``covered``: how much the reply is about the
    buyer's point (0..1) and how many key points it covered, for off-topic; ``said``: what the
    buyer said (figures the buyer gave may be quoted back).
    """
    competitors = list(scenario.competitors)
    if analysis is not None:
        competitors += list(getattr(analysis, "competitors", []) or [])
    flaws: list[Flaw] = []
    sents = sentences(reply) or [reply]
    for s in sents:
        flaws += _sentence_flaws(s, scenario, competitors, said)
    words = re.findall(r"[A-Za-z0-9']+", reply)
    if len(words) <= 3:
        flaws.append(Flaw("one_word", reply.strip(), ""))
    else:
        topic = next((m for m in (_OFF_TOPIC.search(s) for s in sents) if m), None)
        shared = _content_words(reply) & _content_words(" ".join([said, *_facts(scenario)[:1]]))
        if covered == 0 and (topic is not None or (relevance < 0.2 and not shared)):
            flaws.append(Flaw("off_topic", topic.group(0) if topic else "not about the "
                              "buyer's point", ""))
    seen: set[tuple[str, str]] = set()
    out = []
    for f in flaws:
        if (f.kind, f.sentence) not in seen:
            seen.add((f.kind, f.sentence))
            out.append(f)
    return out


def sentence_flaws(sentence: str, scenario: Scenario, said: str = "") -> list[Flaw]:
    """The flaws one sentence carries on its own (whole-reply flaws such as one-word aside)."""
    return _sentence_flaws(sentence, scenario, list(scenario.competitors), said)
