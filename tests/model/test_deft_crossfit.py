"""Cross-fitted expert summaries: each clip's evidence comes from experts that never saw its subject."""

import torch
from model_toys import make_clips, tiny_config

from deftmer.data.labels import MEGC3
from deftmer.model.deft import DeftModel
from deftmer.model.deft_crossfit import crossfit_summaries
from deftmer.model.inputs import mirror_clip


def _built(clips):
    model = DeftModel(tiny_config(), MEGC3)
    model.setup_training(clips)
    plain = model.tensors(clips)
    mirrored = model.tensors([mirror_clip(c) for c in clips])
    return model, plain, mirrored


def test_each_half_is_scored_by_the_copy_trained_on_the_other_half():
    clips = make_clips(n_subjects=4, per_subject=3)
    model, plain, mirrored = _built(clips)
    init = {k: v.clone() for k, v in model.net.state_dict().items()}
    fitted: list[set[str]] = []

    def fit(net, rows, k):
        fitted.append({clips[i].sample.subject for i in rows.tolist()})
        with torch.no_grad():   # "train" the copy: it must not be the stage-1 net itself
            for p in net.parameters():
                p.zero_()

    oof = crossfit_summaries(model.net, init, [c.sample for c in clips], plain, mirrored, seed=0, fit=fit)
    assert len(fitted) == 2 and not fitted[0] & fitted[1] and fitted[0] | fitted[1] == {c.sample.subject for c in clips}
    assert len(fitted[0]) == len(fitted[1]) == 2          # halves by clip count (3 clips per subject)
    # the stage-1 net itself is untouched by the copies
    assert all(torch.equal(v, init[k]) for k, v in model.net.state_dict().items())
    assert set(oof.plain) == set(model.net.experts) and oof.mirrored is not None
    for v in oof.plain.values():
        assert v.shape == (len(clips), model.cfg.model.expert_dim)


def test_an_unfitted_copy_gives_the_untrained_net_summaries_row_for_row():
    clips = make_clips(n_subjects=4, per_subject=3)
    model, plain, mirrored = _built(clips)
    init = {k: v.clone() for k, v in model.net.state_dict().items()}
    oof = crossfit_summaries(model.net, init, [c.sample for c in clips], plain, mirrored, seed=0,
                             fit=lambda net, rows, k: None)
    model.net.eval()
    with torch.no_grad():
        want_plain = model.net(plain.feats).summaries
        want_mirror = model.net(mirrored.feats).summaries
    flip = torch.tensor([i % 2 == 1 for i in range(len(clips))])
    idx = torch.arange(len(clips)).flip(0)
    got = oof.batch(idx, flip[idx])
    for e in want_plain:
        assert torch.allclose(oof.plain[e], want_plain[e], atol=1e-6)
        assert torch.allclose(oof.mirrored[e], want_mirror[e], atol=1e-6)
        want = torch.where(flip[idx][:, None], want_mirror[e][idx], want_plain[e][idx])
        assert torch.allclose(got[e], want, atol=1e-6)
    assert 0.0 <= oof.balanced_accuracy <= 1.0


def test_one_subject_cannot_be_cross_fitted():
    clips = make_clips(n_subjects=1, per_subject=4)
    model, plain, mirrored = _built(clips)
    init = model.net.state_dict()
    assert crossfit_summaries(model.net, init, [c.sample for c in clips], plain, mirrored, seed=0,
                              fit=lambda net, rows, k: None) is None
