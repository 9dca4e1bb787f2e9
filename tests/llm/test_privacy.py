"""PII never reaches a cloud model: redaction of the kinds of data reps hear on calls."""

from __future__ import annotations

import pytest

from plugin.privacy import redact


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("mail me at jane.doe+sales@acme-corp.co.uk today", "[EMAIL]"),
        ("call me on +1 (415) 555-0134 after lunch", "[PHONE]"),
        ("my direct line is 020 7946 0958", "[PHONE]"),
        ("the card is 4111 1111 1111 1111, expiry next year", "[CARD]"),
        ("my SSN is 123-45-6789", "[SSN]"),
        ("wire it to GB82 WEST 1234 5698 7654 32", "[IBAN]"),
        ("the server is at 10.20.30.40", "[IP]"),
    ],
)
def test_personal_data_is_replaced_by_a_tag(text: str, tag: str) -> None:
    out = redact(text)
    assert tag in out


def test_prices_years_and_quantities_are_kept() -> None:
    text = "It's $45,000 a year for 250 seats, starting Q3 2027, about 12 percent less."
    assert redact(text) == text


def test_numbers_that_fail_the_card_checksum_are_kept() -> None:
    assert "[CARD]" not in redact("order 1234 5678 9012 3456 shipped")


def test_crm_names_are_redacted_as_whole_words_in_any_case() -> None:
    out = redact("Thanks Priya, I'll loop in priya's boss. Nair said yes. Priyanka too.",
                 names=["Priya Nair"])
    assert out == "Thanks [NAME], I'll loop in [NAME]'s boss. [NAME] said yes. Priyanka too."
