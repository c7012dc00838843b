"""The built-in classifiers classify ordinary text the way a reader would.

The label descriptions were tuned on SENTIMENT_* and HEADLINES (plus two further
sets not kept here); HELD_OUT_* were written afterwards and never tuned against.
"""

from __future__ import annotations

import csv

import pytest

from inferql.inference import ModelRef
from inferql.inference.registry import ModelRegistry
from tests.inference.fixtures.make_held_out import BUILT_FROM, held_out_path

SENTIMENT_POSITIVE = [
    "I love this",
    "Absolutely fantastic product, works perfectly.",
    "The food was delicious and the staff were friendly.",
    "Best purchase I've made all year.",
    "Highly recommend this hotel, the rooms were spotless.",
    "The movie was a delight from start to finish.",
    "Great value for money, I'm very happy with it.",
    "Fast shipping and the quality exceeded my expectations.",
    "My kids adore this toy.",
    "The customer service team was incredibly helpful.",
    "It does exactly what it promises and it looks great.",
]
SENTIMENT_NEGATIVE = [
    "this is awful",
    "Terrible quality, it broke after two days.",
    "The food was cold and the waiter was rude.",
    "Worst purchase ever, total waste of money.",
    "I want a refund, this product doesn't work.",
    "The movie was boring and far too long.",
    "Very disappointed with the service.",
    "The hotel room was dirty and smelled bad.",
    "It stopped charging after a week. Do not buy.",
    "Customer support never answered my emails.",
    "The battery life is horrible.",
]
HELD_OUT_POSITIVE = [
    "Exactly what I needed, thank you!",
    "The hotel breakfast was superb.",
    "Charming story with lovable characters.",
    "Battery lasts all day, very pleased.",
    "Worth every penny.",
]
HELD_OUT_NEGATIVE = [
    "Complete junk, returned it the next day.",
    "Flat characters and a predictable ending.",
    "The headphones stopped working after a month.",
    "It constantly freezes and needs restarting.",
    "Save your money.",
]

HEADLINES = {
    "world": [
        "UN Security Council meets over Syria ceasefire",
        "Earthquake kills hundreds in Iran",
        "Israeli troops withdraw from Gaza town",
        "EU leaders meet to discuss refugee crisis",
    ],
    "sports": [
        "Manchester United wins the derby",
        "Federer advances to Wimbledon final",
        "Yankees beat Red Sox in extra innings",
        "Phelps wins sixth gold medal in Athens",
    ],
    "business": [
        "Stocks fall as oil prices surge",
        "Oracle agrees to buy PeopleSoft for $10 billion",
        "Fed raises interest rates by quarter point",
        "Airline files for bankruptcy protection",
    ],
    "science/technology": [
        "NASA launches new Mars rover",
        "Microsoft releases security patch for Windows",
        "Scientists discover new species of dinosaur",
        "Researchers develop faster quantum computer chip",
    ],
}
HELD_OUT_HEADLINES = {
    "world": ["Pakistan and India agree to ceasefire in Kashmir", "Car bomb explodes near embassy"],
    "sports": ["Arsenal extends unbeaten run to 40 games", "US women win basketball gold"],
    "business": ["Oil prices drop after OPEC raises output", "Sony posts quarterly loss"],
    "science/technology": [
        "New Linux release supports more hardware",
        "Scientists map the chicken genome",
    ],
}

SENTIMENT = ModelRef("sentiment", "1")
TOPIC = ModelRef("topic", "1")


def _labels(registry: ModelRegistry, ref: ModelRef, texts: list[str]) -> list[str]:
    return [p.label for p in registry.load(ref).predict(texts)]


def test_the_two_canonical_sentiment_cases(registry: ModelRegistry) -> None:
    assert _labels(registry, SENTIMENT, ["I love this", "this is awful"]) == [
        "positive",
        "negative",
    ]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (SENTIMENT_POSITIVE, "positive"),
        (SENTIMENT_NEGATIVE, "negative"),
        (HELD_OUT_POSITIVE, "positive"),
        (HELD_OUT_NEGATIVE, "negative"),
    ],
    ids=["positive", "negative", "held-out-positive", "held-out-negative"],
)
def test_sentiment_of_reviews(registry: ModelRegistry, texts: list[str], expected: str) -> None:
    labels = _labels(registry, SENTIMENT, texts)
    wrong = [text for text, label in zip(texts, labels, strict=True) if label != expected]
    assert wrong == []


@pytest.mark.parametrize("headlines", [HEADLINES, HELD_OUT_HEADLINES], ids=["tuned", "held-out"])
def test_topic_of_headlines(registry: ModelRegistry, headlines: dict[str, list[str]]) -> None:
    texts = [text for group in headlines.values() for text in group]
    expected = [label for label, group in headlines.items() for _ in group]
    labels = _labels(registry, TOPIC, texts)
    wrong = [
        (text, want, got)
        for text, want, got in zip(texts, expected, labels, strict=True)
        if want != got
    ]
    assert wrong == []


def test_topic_labels_are_ag_news(registry: ModelRegistry) -> None:
    assert registry.load(TOPIC).labels == ("world", "sports", "business", "science/technology")


def test_predictions_are_well_formed(registry: ModelRegistry) -> None:
    texts = ["Stocks fall as oil prices surge", "NASA launches new Mars rover", "news " * 400]
    predictions = registry.load(TOPIC).predict(texts)
    assert len(predictions) == 3
    for prediction in predictions:
        assert prediction.model == TOPIC
        assert {s.label for s in prediction.scores} == set(HEADLINES)
        assert sum(s.score for s in prediction.scores) == pytest.approx(1.0, abs=1e-5)
        ordered = [s.score for s in prediction.scores]
        assert ordered == sorted(ordered, reverse=True)
        assert (prediction.label, prediction.score) == (
            prediction.scores[0].label,
            prediction.scores[0].score,
        )
        assert not prediction.cached
    assert [p.truncated for p in predictions] == [False, False, True]
    assert registry.load(TOPIC).predict([]) == []


def test_confident_on_clear_cases(registry: ModelRegistry) -> None:
    love, awful = registry.load(SENTIMENT).predict(["I love this", "this is awful"])
    assert love.score > 0.9
    assert awful.score > 0.9


# Written for the trained sentiment@2 (SST-2 is movie reviews; these are not
# only movies), never used to build or tune it.
CLEAR_POSITIVE = [
    "This film is a masterpiece, moving and beautifully acted.",
    "I loved every minute of it.",
    "A warm, funny and touching story.",
    "The best meal I have had in years.",
    "Brilliant performances from the whole cast.",
    "An absolute joy to watch.",
    "The hotel staff were wonderful and the room was lovely.",
    "Gorgeous photography and a haunting score.",
    "It is smart, witty and full of heart.",
    "I would happily see it again tomorrow.",
    "This phone is fast, light and the battery lasts forever.",
    "A delightful surprise from start to finish.",
    "The book is gripping and wonderfully written.",
    "Great service, friendly people, excellent coffee.",
    "One of the most inspiring documentaries I have seen.",
    "The kids and the adults all had a great time.",
    "A clever, charming romantic comedy.",
    "Everything worked perfectly, I am very happy.",
    "Her performance is simply stunning.",
    "A thrilling ride with a satisfying ending.",
]
CLEAR_NEGATIVE = [
    "This film is a boring, pointless mess.",
    "I hated every minute of it.",
    "A dull and lifeless story.",
    "The worst meal I have had in years.",
    "Wooden acting from the whole cast.",
    "An absolute chore to sit through.",
    "The hotel staff were rude and the room was filthy.",
    "Ugly photography and an irritating score.",
    "It is stupid, tedious and heartless.",
    "I want those two hours of my life back.",
    "This phone is slow, heavy and the battery dies by noon.",
    "A tiresome disappointment from start to finish.",
    "The book is confusing and badly written.",
    "Terrible service, unfriendly people, awful coffee.",
    "One of the most tedious documentaries I have seen.",
    "Nobody enjoyed it, not even the kids.",
    "A lazy, unfunny romantic comedy.",
    "Nothing worked, I am very unhappy.",
    "Her performance is painfully flat.",
    "A predictable plot with a ridiculous ending.",
]

INTENTS = {
    "I lost my card yesterday, what should I do?": "lost_or_stolen_card",
    "How can I change my PIN?": "change_pin",
    "My new card still hasn't arrived.": "card_arrival",
    "I want to close my account.": "terminate_account",
    "Why was I charged a fee for sending money?": "transfer_fee_charged",
    "Can I pay with Apple Pay?": "apple_pay_or_google_pay",
    "My top up didn't go through.": "top_up_failed",
    "The ATM kept my card.": "card_swallowed",
    "I forgot my passcode.": "passcode_forgotten",
    "I was charged twice for the same purchase.": "transaction_charged_twice",
    "How old do you have to be to open an account?": "age_limit",
    "How do I activate my card?": "activate_my_card",
}


def test_trained_sentiment_is_the_latest_and_labels_clear_sentences(
    registry: ModelRegistry,
) -> None:
    latest = registry.catalog.resolve("sentiment")
    assert latest.head == "linear"
    texts = CLEAR_POSITIVE + CLEAR_NEGATIVE
    expected = ["positive"] * len(CLEAR_POSITIVE) + ["negative"] * len(CLEAR_NEGATIVE)
    predictions = registry.load(latest.ref).predict(texts)
    right = sum(p.label == want for p, want in zip(predictions, expected, strict=True))
    assert right / len(texts) >= 0.85, [
        t for t, p, w in zip(texts, predictions, expected, strict=True) if p.label != w
    ]
    for prediction in predictions:
        assert (prediction.model, prediction.head) == (latest.ref, "linear")
        assert sum(s.score for s in prediction.scores) == pytest.approx(1.0, abs=1e-5)


def test_intent_labels_clear_banking_requests(registry: ModelRegistry) -> None:
    classifier = registry.load(ModelRef("intent", "1"))
    assert len(classifier.labels) == 77
    predictions = classifier.predict(list(INTENTS))
    wrong = [
        (text, want, p.label)
        for (text, want), p in zip(INTENTS.items(), predictions, strict=True)
        if p.label != want
    ]
    assert len(wrong) <= 2, wrong


@pytest.mark.parametrize("ref", sorted(BUILT_FROM))
def test_a_trained_builtin_scores_its_recorded_accuracy_on_its_held_out_rows(
    registry: ModelRegistry, ref: str
) -> None:
    """The rows its build held out (fixtures/make_held_out.py derives them again
    from the training file), classified by the shipped classifier: the figure in
    the manifest is what the model really scores."""
    classifier = registry.load(ModelRef.parse(ref))
    metrics = classifier.spec.metrics
    assert metrics is not None
    with held_out_path(ref).open(encoding="utf-8", newline="") as file:
        rows = [(row["text"], row["label"]) for row in csv.DictReader(file, delimiter="\t")]
    assert len(rows) == metrics.validation_size
    predicted = classifier.predict([text for text, _ in rows])
    hits = sum(p.label == label for p, (_, label) in zip(predicted, rows, strict=True))
    assert hits / len(rows) == pytest.approx(metrics.accuracy, abs=2e-3)
