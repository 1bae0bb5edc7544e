"""--min-new-tokens: a model that would stop at once says something first; empty and cut-off
generations are counted."""

from __future__ import annotations

import pytest

from peftlab.decoding import _newline_ids, beam_batch, blank_ids, generate_for_examples, greedy_batch, stop_ids
from peftlab.evaluation import EvalOptions, degenerate_counts
from test_generate import build, examples_for


@pytest.fixture(scope="module")
def eager_to_stop():
    """A tiny model whose every greedy step would pick EOS (a hook lifts its logit), newline second."""
    tokenizer, adapted = build("random:tiny-gpt2", tasks=["qa"], num_prompts=2)
    eos, newline = tokenizer.eos_token_id, min(_newline_ids(tokenizer))

    def lift(_module, _inputs, logits):
        logits = logits.clone()
        logits[..., eos] += 1000.0
        logits[..., newline] += 500.0
        return logits

    adapted.model.get_output_embeddings().register_forward_hook(lift)
    return tokenizer, adapted, examples_for(tokenizer, adapted, tasks=["qa"], n=3)


def test_first_greedy_token_eos_gives_empty_without_and_one_word_with_min_new_tokens(eager_to_stop):
    tokenizer, adapted, examples = eager_to_stop
    kw = dict(max_new_tokens=5, batch_size=2)
    assert generate_for_examples(adapted, tokenizer, examples, min_new_tokens=0, **kw) == ["", "", ""]
    texts = generate_for_examples(adapted, tokenizer, examples, min_new_tokens=1, **kw)
    assert all(t.strip() for t in texts)
    ids = greedy_batch(adapted, examples, pad_id=tokenizer.pad_token_id, stops=stop_ids(tokenizer), max_new_tokens=5,
                       min_new_tokens=1, blanks=blank_ids(tokenizer))
    assert [len(i) for i in ids] == [1, 1, 1]  # the first non-blank token, then EOS stops it
    assert not any(i[0] in blank_ids(tokenizer) for i in ids)
    two = greedy_batch(adapted, examples, pad_id=tokenizer.pad_token_id, stops=stop_ids(tokenizer), max_new_tokens=5,
                       min_new_tokens=2, blanks=blank_ids(tokenizer))
    assert [len(i) for i in two] == [2, 2, 2] and [i[:1] for i in two] == [i[:1] for i in ids]


def test_beam_search_honours_min_new_tokens_too(eager_to_stop):
    tokenizer, adapted, examples = eager_to_stop
    kw = dict(pad_id=tokenizer.pad_token_id, stops=stop_ids(tokenizer), max_new_tokens=4, num_beams=2)
    assert beam_batch(adapted, examples, **kw) == [[], [], []]
    said = beam_batch(adapted, examples, min_new_tokens=1, blanks=blank_ids(tokenizer), **kw)
    assert all(len(i) == 1 and i[0] not in blank_ids(tokenizer) for i in said)


def test_min_new_tokens_is_zero_mask_free_and_defaults_per_task():
    assert EvalOptions().min_tokens_for("qa") == 1 and EvalOptions().min_tokens_for("translate") == 1
    assert EvalOptions(min_new_tokens=0).min_tokens_for("summarize") == 0
    assert EvalOptions(min_new_tokens=3).min_tokens_for("qa") == 3


def test_empty_and_truncated_generations_are_counted():
    counts = degenerate_counts(["", "  ", "Sofia", "a long one"], [0, 1, 1, 4], budget=4)
    assert counts == {"examples": 4, "empty": 2, "truncated": 1}


def test_a_negative_min_new_tokens_is_a_usage_error():
    from peftlab.errors import UsageError

    with pytest.raises(UsageError, match="--min-new-tokens must be an integer >= 0"):
        EvalOptions(min_new_tokens=-1).validate()
