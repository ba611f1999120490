import torch

from deftmer.model.fusion import ExpertFusion, disentanglement_loss


def test_disentanglement_zero_for_uncorrelated_features():
    a = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])
    b = torch.tensor([[1.0], [1.0], [-1.0], [-1.0]])     # orthogonal after centring
    assert disentanglement_loss([a, b]).item() < 1e-8


def test_disentanglement_grows_with_correlation():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 8, generator=g)
    noise = torch.randn(64, 8, generator=g)
    weak = disentanglement_loss([a, 0.2 * a + noise]).item()
    strong = disentanglement_loss([a, a + 0.05 * noise]).item()
    independent = disentanglement_loss([a, noise]).item()
    assert independent < weak < strong
    assert strong > 0.1                       # identical features: 1/D per pair = 0.125


def test_disentanglement_needs_two_experts_and_a_batch():
    assert disentanglement_loss([torch.randn(4, 3)]).item() == 0.0
    assert disentanglement_loss([torch.randn(1, 3), torch.randn(1, 3)]).item() == 0.0


def test_fusion_projects_each_summary_to_its_tokens_and_tags_them():
    fusion = ExpertFusion(["structure", "motion"], dim=8, hidden=12, embed_scale=2.0, tokens={"motion": 4})
    assert fusion.n_tokens == 5
    out = fusion({"structure": torch.randn(3, 8), "motion": torch.randn(3, 8)})
    assert out.shape == (3, 5, 12)
    with torch.no_grad():
        fusion.type_embed.weight.zero_()
        out = fusion({"structure": torch.randn(3, 8), "motion": torch.randn(3, 8)})
    assert torch.allclose(out.norm(dim=-1), torch.full((3, 5), 2.0), atol=1e-4)  # scaled like word embeddings
