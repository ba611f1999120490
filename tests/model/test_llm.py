import pytest
import torch

from deftmer.errors import ConfigError
from deftmer.model.llm import add_lora, attention_implementation, load_llm, tiny_llm, truncate_layers
from deftmer.model.prompt import IGNORE, PromptBuilder


def test_local_checkpoint_loads_through_the_user_path(tmp_path):
    """A user's HF folder takes the same path as ours: save a tiny model + tokenizer, load it."""
    src = tiny_llm(seed=3)
    src.model.save_pretrained(tmp_path)
    src.tokenizer.save_pretrained(tmp_path)
    loaded = load_llm(str(tmp_path))
    ids = torch.tensor([[1, 20, 300, 4000]])
    with torch.no_grad():
        assert torch.allclose(src.model(ids).logits, loaded.model(ids).logits, atol=1e-6)
    assert all(not p.requires_grad for p in loaded.model.parameters())   # base frozen
    assert loaded.source == str(tmp_path)


def test_unknown_llm_is_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match="local Hugging Face model folder"):
        load_llm(str(tmp_path / "nope"))


def test_lora_params_are_the_only_trainable_llm_params():
    llm = load_llm("tiny")
    model = add_lora(llm.model, rank=4, alpha=8, dropout=0.0, targets=["q_proj", "v_proj"])
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any("q_proj" in n for n in trainable) and not any("k_proj" in n for n in trainable)


def test_truncate_layers_keeps_the_first_n():
    llm = tiny_llm()
    first = llm.model.model.layers[0]
    truncate_layers(llm.model, 1)
    assert len(llm.model.model.layers) == 1 and llm.model.model.layers[0] is first
    with pytest.raises(ConfigError):
        truncate_layers(llm.model, 5)


def test_prompt_labels_cover_answer_tokens_only():
    """Rows are ``experts | tail | answer``: LM targets on the answer tokens only, the answer
    position on the tail's last token, the expert embeddings in their slot."""
    llm = tiny_llm()
    pb = PromptBuilder(llm.tokenizer)
    emb = llm.model.get_input_embeddings()
    experts = torch.randn(2, 5, llm.hidden_size)
    a = [pb.answer_ids("Emotion: positive"), pb.answer_ids("Emotion: negative\nEvidence: AU4")]
    asm = pb.assemble(emb, experts, a)
    T = len(pb.tail_ids)
    assert asm.embeds.shape == (2, max(5 + T + len(x) for x in a), llm.hidden_size)
    for i in range(2):
        assert asm.mask[i].sum() == 5 + T + len(a[i])
        assert asm.labels[i][asm.labels[i] != IGNORE].tolist() == a[i]
        assert asm.answer_pos[i] == 5 + T - 1
        assert torch.equal(asm.embeds[i, :5], experts[i])                 # experts sit in the slot
    assert a[0][-1] == pb.eos_id                                          # answers end the turn


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_shared_head_pass_equals_the_full_sequence_pass(attention):
    """Running the instruction once for the batch gives the same states as every row carrying it."""
    from deftmer.model.prompt import forward_with_shared_head

    llm = tiny_llm(seed=1)
    base = llm.model
    base.set_attn_implementation(attention)
    pb = PromptBuilder(llm.tokenizer)
    emb = base.get_input_embeddings()
    head = pb.head_ids("Emotion (negative, positive, surprise)?")
    experts = torch.randn(2, 3, llm.hidden_size) * 0.1
    asm = pb.assemble(emb, experts, [pb.answer_ids("Emotion: positive"), pb.answer_ids("Emotion: surprise!")])
    with torch.no_grad():
        shared = forward_with_shared_head(base, head, asm)
        full = torch.cat([emb(torch.tensor(head))[None].expand(2, -1, -1), asm.embeds], 1)
        mask = torch.cat([torch.ones(2, len(head), dtype=torch.long), asm.mask], 1)
        ref = base.model(inputs_embeds=full, attention_mask=mask).last_hidden_state[:, len(head):]
    keep = asm.mask.bool()
    assert torch.allclose(shared[keep], ref[keep], atol=1e-5)


def test_eager_and_sdpa_attention_compute_the_same_pass_and_gradients():
    """``model.llm_attention`` picks a kernel, not a model: padded rows behind a shared head give
    the same states and the same gradients on the expert embeddings with either."""
    from deftmer.model.prompt import forward_with_shared_head

    llm = tiny_llm(seed=2)
    base = llm.model
    pb = PromptBuilder(llm.tokenizer)
    emb = base.get_input_embeddings()
    head = pb.head_ids("Emotion (negative, positive, surprise)?")
    answers = [pb.answer_ids("Emotion: positive"), pb.answer_ids("Emotion: surprise\nEvidence: AU1, AU2")]
    results = {}
    for attention in ("sdpa", "eager"):
        base.set_attn_implementation(attention)
        experts = (torch.randn(2, 3, llm.hidden_size, generator=torch.Generator().manual_seed(0)) * 0.1).requires_grad_()
        asm = pb.assemble(emb, experts, answers)
        hidden = forward_with_shared_head(base, head, asm)
        hidden[asm.mask.bool()].pow(2).sum().backward()
        results[attention] = (hidden[asm.mask.bool()].detach(), experts.grad)
    (h1, g1), (h2, g2) = results.values()
    assert torch.allclose(h1, h2, atol=1e-5)
    assert torch.allclose(g1, g2, atol=1e-4) and g1.abs().sum() > 0


def test_attention_auto_is_eager_on_cpu_and_sdpa_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert attention_implementation("auto") == "eager"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert attention_implementation("auto") == "sdpa"
    assert attention_implementation("sdpa") == "sdpa"
    with pytest.raises(ConfigError, match="llm_attention"):
        attention_implementation("flash")
    assert load_llm("tiny", attention="eager").model.config._attn_implementation == "eager"


def test_rows_without_answers_take_their_own_pass_with_the_same_states_and_loss():
    """A batch mixing answered and unanswered rows (``train.stage2_answer_share`` < 1) runs them
    in two passes: the answer-position states are those of the rows alone (they sit before the
    answer), and the LM loss is that of the answered rows alone."""
    from deftmer.model.language import DeftLanguage

    llm = tiny_llm(seed=3)
    llm.model = add_lora(llm.model, rank=4, alpha=8, dropout=0.0, targets=["q_proj", "v_proj"]).eval()
    lang = DeftLanguage(llm, ("negative", "positive", "surprise"), precision="fp32")
    pb = lang.prompts
    experts = torch.randn(3, 3, llm.hidden_size, generator=torch.Generator().manual_seed(1)) * 0.1
    a0, a2 = pb.answer_ids("Emotion: positive\nEvidence: AU12"), pb.answer_ids("Emotion: surprise")
    with torch.no_grad():
        mixed = lang.run(experts, [a0, [], a2])
        no_answers = lang.run(experts, None)
        answered = lang.run(experts[[0, 2]], [a0, a2])
    assert torch.allclose(mixed.answer_state, no_answers.answer_state, atol=1e-5)
    assert torch.allclose(mixed.lm_loss, answered.lm_loss, atol=1e-6)
    passes = []
    inner = lang._run
    lang._run = lambda e, a: passes.append((len(e), a is not None)) or inner(e, a)
    lang.run(experts, [a0, [], a2])
    assert passes == [(2, True), (1, False)]   # the unanswered row does not pad to an answer's length


def test_an_answer_prefix_closes_the_tail_and_is_cut_from_answers():
    """With ``Emotion:`` in the tail, the answer position is where the class word is predicted."""
    llm = tiny_llm()
    plain, pb = PromptBuilder(llm.tokenizer), PromptBuilder(llm.tokenizer, "Emotion:")
    ids = lambda s: llm.tokenizer(s, add_special_tokens=False)["input_ids"]   # noqa: E731
    assert pb.tail_ids == plain.tail_ids + ids("Emotion:")
    assert pb.answer_ids("Emotion: positive\nEvidence: AU12") == ids(" positive\nEvidence: AU12") + [pb.eos_id]
    assert plain.answer_ids("Emotion: positive") == ids("Emotion: positive") + [pb.eos_id]
    assert pb.answer_ids("brows move up", close=False) == ids("brows move up")   # other text: whole
    asm = pb.assemble(llm.model.get_input_embeddings(), torch.randn(1, 3, llm.hidden_size),
                      [pb.answer_ids("Emotion: negative")])
    assert asm.answer_pos[0] == 3 + len(pb.tail_ids) - 1
    assert asm.labels[0][asm.answer_pos[0] + 1].item() == ids(" negative")[0]   # the next target: the class word
