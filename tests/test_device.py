import pytest
import torch

from alignkit import device as dev


def test_get_device_auto_is_cpu_without_gpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else ("mps" if dev._mps_available() else "cpu")
    assert dev.get_device().type == expected


def test_argument_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIGNKIT_DEVICE", "nonsense")
    assert dev.get_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="ALIGNKIT_DEVICE must be one of"):
        dev.get_device()
    monkeypatch.setenv("ALIGNKIT_DEVICE", "cpu")
    assert dev.get_device() == torch.device("cpu")


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:x", "tpu", ""])
def test_unknown_device_name_raises(name: str) -> None:
    with pytest.raises(ValueError, match="device must be one of"):
        dev.get_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_requested_without_cuda() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        dev.get_device("cuda")


def test_make_generator_reproducible() -> None:
    a = torch.randn(5, generator=dev.make_generator(3, "cpu"))
    b = torch.randn(5, generator=dev.make_generator(3, "cpu"))
    c = torch.randn(5, generator=dev.make_generator(4, "cpu"))
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = torch.Generator()
    assert dev.make_generator(g) is g
    with pytest.raises(ValueError, match="seed must be an integer"):
        dev.make_generator(-1, "cpu")


def test_seed_everything_reseeds_torch() -> None:
    dev.seed_everything(7)
    a = torch.rand(3)
    dev.seed_everything(7)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ValueError, match="seed"):
        dev.seed_everything(-3)


def test_fast_mode_and_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIGNKIT_FAST", "1")
    assert dev.fast_mode() and dev.pick(100, 10) == 10
    monkeypatch.setenv("ALIGNKIT_FAST", "0")
    assert not dev.fast_mode() and dev.pick(100, 10) == 100
    for off in ("", "off", " No "):
        monkeypatch.setenv("ALIGNKIT_FAST", off)
        assert not dev.fast_mode()
    monkeypatch.setenv("ALIGNKIT_FAST", "2")  # was read as off, silently
    with pytest.raises(ValueError, match=r"ALIGNKIT_FAST must be one of .*got '2'"):
        dev.fast_mode()


def test_describe_keys() -> None:
    info = dev.describe("cpu")
    assert info["device"] == "cpu"
    assert info["torch"] == torch.__version__
    for key in ("cuda_available", "gpu_name", "gpu_memory_gb", "fast_mode", "threads"):
        assert key in info


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_describe_gpu() -> None:
    info = dev.describe("cuda")
    assert info["gpu_name"] and info["gpu_memory_gb"] > 0


def test_torch_threads_sets_and_restores_even_on_error() -> None:
    from alignkit.device import torch_threads

    before = torch.get_num_threads()
    with torch_threads(2):
        assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"), torch_threads(2):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):  # leaves torch's setting alone
        assert torch.get_num_threads() == before
