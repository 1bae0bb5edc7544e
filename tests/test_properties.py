"""Property-based tests (hypothesis) of encoding and collation, with the real embedded tokenizer.

The invariants training relies on: labels never cover prompt or pad tokens, truncation cuts only
the body and never the target, an example never exceeds --max-length, and padding (left or right)
never changes a row's tokens.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peftlab.data.collate import IGNORE, Example, collate, encode
from peftlab.data.tasks import get_task, task_names
from peftlab.errors import UsageError

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Words, digits, punctuation, Cyrillic, CJK, emoji, newlines: whatever a data file may hold.
TEXT = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"), include_characters="\n\t"),
               min_size=1, max_size=120).filter(lambda s: s.strip())


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@st.composite
def rows(draw):
    task = get_task(draw(st.sampled_from(sorted(task_names()))))
    row = {name: draw(TEXT).strip() for name in task.fields}  # load_data hands encode stripped strings
    return task, row


@SETTINGS
@given(case=rows(), max_length=st.integers(8, 100), num_virtual=st.integers(0, 20), loss_on_prompt=st.booleans())
def test_encode_masks_prompt_and_never_cuts_the_target(tokenizer, case, max_length, num_virtual, loss_on_prompt):
    task, row = case
    head, body, tail = (ids(tokenizer, part) for part in task.render(row))
    target = ids(tokenizer, task.target_text(row)) + [tokenizer.eos_token_id]
    room = max_length - num_virtual - len(head) - len(tail) - len(target)
    if room < 1:  # not even one body token fits beside the target: an error naming the fix
        with pytest.raises(UsageError, match="raise --max-length or shorten that target"):
            encode(row, task, tokenizer, max_length=max_length, num_virtual=num_virtual, loss_on_prompt=loss_on_prompt)
        return
    ex = encode(row, task, tokenizer, max_length=max_length, num_virtual=num_virtual, loss_on_prompt=loss_on_prompt)

    assert ex.input_ids[ex.prompt_len:] == target           # the whole target, EOS included
    assert ex.labels[ex.prompt_len:] == target              # and every target token carries loss
    prompt_labels = ex.labels[:ex.prompt_len]
    assert prompt_labels == (ex.input_ids[:ex.prompt_len] if loss_on_prompt else [IGNORE] * ex.prompt_len)
    assert len(ex.labels) == len(ex.input_ids)
    assert len(ex.input_ids) + num_virtual <= max_length

    prompt = ex.input_ids[:ex.prompt_len]
    kept = prompt[len(head):len(prompt) - len(tail)]
    assert prompt[:len(head)] == head and prompt[len(prompt) - len(tail):] == tail  # instruction, question kept
    assert kept == body[:len(kept)] and len(kept) == min(len(body), room)          # only the body's end is cut
    assert ex.truncated == (len(body) > room)


@st.composite
def examples(draw):
    """Already-encoded examples: a prompt (>= 1 token, labels IGNORE) then a target (>= 1 token)."""
    out = []
    for task_id in range(draw(st.integers(1, 5))):
        prompt = draw(st.lists(st.integers(0, 49151), min_size=1, max_size=12))
        target = draw(st.lists(st.integers(0, 49151), min_size=1, max_size=6))
        out.append(Example(prompt + target, [IGNORE] * len(prompt) + target, len(prompt), task_id % 3, False))
    return out


@SETTINGS
@given(batch=examples(), pad_id=st.integers(0, 49151), left=st.booleans(), prompt_only=st.booleans())
def test_collate_pads_without_touching_rows(batch, pad_id, left, prompt_only):
    b = collate(batch, pad_id, left=left, prompt_only=prompt_only)
    lengths = [e.prompt_len if prompt_only else len(e.input_ids) for e in batch]
    assert b.input_ids.shape == b.labels.shape == b.attention_mask.shape == (len(batch), max(lengths))
    assert b.task_ids.tolist() == [e.task_id for e in batch]
    pad = b.attention_mask == 0
    assert (b.input_ids[pad] == pad_id).all()
    assert (b.labels[pad] == IGNORE).all()  # no loss on padding, whatever id the pad token has
    for i, (e, n) in enumerate(zip(batch, lengths)):
        row = slice(b.input_ids.shape[1] - n, None) if left else slice(0, n)
        assert b.attention_mask[i].sum().item() == n
        assert b.attention_mask[i, row].all()
        assert b.input_ids[i, row].tolist() == e.input_ids[:n]
        labels = b.labels[i, row].tolist()
        assert labels == ([IGNORE] * n if prompt_only else e.labels)
        assert labels[:e.prompt_len] == [IGNORE] * min(e.prompt_len, n)  # never loss on the prompt


@SETTINGS
@given(batch=examples(), pad_id=st.integers(0, 49151), left=st.booleans())
def test_target_tokens_counts_exactly_the_targets(batch, pad_id, left):
    b = collate(batch, pad_id, left=left)
    assert b.target_tokens == sum(len(e.input_ids) - e.prompt_len for e in batch)
    assert b.target_tokens == sum(e.target_tokens for e in batch)  # what data-parallel steps count


@SETTINGS
@given(cases=st.lists(rows(), min_size=1, max_size=4), max_length=st.integers(48, 160), left=st.booleans())
def test_encoded_batch_labels_exactly_the_targets(tokenizer, cases, max_length, left):
    """End to end: in a padded batch of encoded rows, the positions carrying loss are exactly each
    row's target tokens — no prompt token, no pad token, none of the target missing."""
    batch = []
    for task, row in cases:
        try:
            batch.append(encode(row, task, tokenizer, max_length=max_length))
        except UsageError:
            continue  # target cannot fit: covered by the test above
    if not batch:
        return
    b = collate(batch, tokenizer.pad_token_id or 0, left=left)
    width = b.input_ids.shape[1]
    for i, e in enumerate(batch):
        start = width - len(e.input_ids) if left else 0
        expected = torch.zeros(width, dtype=torch.bool)
        expected[start + e.prompt_len:start + len(e.input_ids)] = True
        assert torch.equal(b.labels[i] != IGNORE, expected)
        assert b.input_ids[i, expected].tolist() == e.input_ids[e.prompt_len:]
