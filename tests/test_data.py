"""utils.data on the real files in ../shared/data, the dataset specs, the offline fallback and the device loader."""

import socket
import warnings

import pytest
import torch

from utils.data import (
    CIFAR10_CLASSES,
    DATASETS,
    DatasetSpec,
    DatasetUnavailable,
    DeviceLoader,
    ImageData,
    SyntheticDataWarning,
    folders,
    load_dataset,
    load_image_folder,
    pad_to_size,
    synthetic_dataset,
    to_rgb,
)
from utils.training.loaders import default_augment

# ---- real data ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_train():
    return load_dataset("mnist", "train", require_real=True)


@pytest.fixture(scope="module")
def cifar_test():
    return load_dataset("cifar10", "test", require_real=True)


def test_mnist_shapes_and_label_counts(mnist_train):
    assert mnist_train.images.shape == (60_000, 1, 28, 28)
    assert mnist_train.images.dtype == torch.uint8
    assert not mnist_train.synthetic
    # 5,923 zeros in the training set: a published fact about MNIST, not something this code computed.
    assert mnist_train.class_counts()[0].item() == 5_923
    # The README of ../shared/data gives the training pixel mean and std.
    pixels = mnist_train.images.float() / 255
    assert pixels.mean().item() == pytest.approx(0.1307, abs=5e-4)
    assert pixels.std().item() == pytest.approx(0.3081, abs=5e-4)
    test = load_dataset("mnist", "test", require_real=True)
    assert test.images.shape == (10_000, 1, 28, 28)
    assert mnist_train.image_shape == DATASETS["mnist"].image_shape  # the spec's natural shape is the files'


def test_cifar10_test_split_has_1000_images_per_class(cifar_test):
    assert cifar_test.images.shape == (10_000, 3, 32, 32)
    assert cifar_test.classes == CIFAR10_CLASSES == list(DATASETS["cifar10"].classes)
    assert cifar_test.image_shape == DATASETS["cifar10"].image_shape
    assert cifar_test.class_counts().tolist() == [1_000] * 10
    # Per-channel mean of this JPEG copy is about (0.488, 0.481, 0.448) (../shared/data/README.md).
    mean = (cifar_test.images.float() / 255).mean(dim=(0, 2, 3))
    torch.testing.assert_close(mean, torch.tensor([0.488, 0.481, 0.448]), atol=0.01, rtol=0)


def test_cifar10_folder_is_decoded_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_COURSE_CACHE", str(tmp_path))
    first = load_dataset("cifar10", "test", require_real=True)
    assert len(list(tmp_path.glob("*.pt"))) == 1

    # The second load must not decode a single image: make decoding impossible and load again.
    def no_decoding(*args):
        raise AssertionError("decoded an image although the cache exists")

    monkeypatch.setattr(folders, "_decode", no_decoding)
    second = load_dataset("cifar10", "test", require_real=True)
    assert torch.equal(first.images, second.images)
    assert torch.equal(first.labels, second.labels)


def test_subset_is_reproducible_and_sized(mnist_train):
    a, b, c = mnist_train.subset(500, seed=1), mnist_train.subset(500, seed=1), mnist_train.subset(500, seed=2)
    assert len(a) == 500 and torch.equal(a.labels, b.labels) and torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)
    assert mnist_train.subset(None) is mnist_train


def test_select_keeps_each_label_with_its_image(mnist_train):
    picked = torch.tensor([59_999, 7, 0, 7])  # any order, repeats allowed
    chosen = mnist_train.select(picked)
    for position, index in enumerate(picked.tolist()):
        assert torch.equal(chosen.images[position], mnist_train.images[index])
        assert chosen.labels[position] == mnist_train.labels[index]
    threes = mnist_train.select(mnist_train.labels == 3)  # a mask works too
    assert len(threes) == mnist_train.class_counts()[3] and set(threes.labels.tolist()) == {3}
    assert (threes.classes, threes.mean, threes.name, threes.crop_and_flip) == (
        mnist_train.classes, mnist_train.mean, mnist_train.name, mnist_train.crop_and_flip)  # fmt: skip


def test_unknown_dataset_and_split_say_what_is_valid():
    with pytest.raises(ValueError, match="mnist, cifar10"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_dataset("mnist", "validation")


# ---- the dataset specs: one per dataset, read by the loader, the stand-ins, the command line and fit ----------


@pytest.mark.parametrize("name", DATASETS)
def test_each_stand_in_has_its_specs_shape_classes_and_statistics(name):
    spec = DATASETS[name]
    stand_in = synthetic_dataset(name, "test", size=300)
    assert stand_in.synthetic and stand_in.name == name and stand_in.images.dtype == torch.uint8
    assert stand_in.image_shape == spec.image_shape and len(stand_in) == 300
    assert stand_in.num_classes == len(spec.classes) and set(stand_in.labels.tolist()) == set(range(len(spec.classes)))
    assert len(spec.mean) == len(spec.std) == spec.image_shape[0]
    assert (stand_in.mean, stand_in.std, stand_in.crop_and_flip) == (spec.mean, spec.std, spec.crop_and_flip)
    assert torch.equal(synthetic_dataset(name, "test", size=300).images, stand_in.images)  # the same every time


def test_the_stand_ins_draw_what_their_class_names_say():
    assert synthetic_dataset("mnist", "test", size=10).classes == [str(d) for d in range(10)]
    assert synthetic_dataset("cifar10", "test", size=10).classes[:3] == ["disk", "square", "triangle"]


def test_augmentation_default_follows_the_spec_not_the_shape(mnist_train, cifar_test, tmp_path, monkeypatch):
    # MNIST made 3x32x32 (what the command line does for a colour model) is still digits: no crop + flip.
    digits_in_colour = to_rgb(pad_to_size(mnist_train.subset(64), 32))
    assert digits_in_colour.image_shape == (3, 32, 32) and not default_augment(digits_in_colour)
    assert default_augment(cifar_test)
    # Your own images have no spec: 32x32 colour ones are taken as CIFAR-like, smaller ones are not.
    monkeypatch.setenv("CNN_COURSE_CACHE", str(tmp_path / "cache"))
    _write_image_folder(tmp_path / "pets", {"cat": [(40, 40)], "dog": [(20, 30)]})
    assert default_augment(load_image_folder(tmp_path / "pets", size=32))
    assert not default_augment(load_image_folder(tmp_path / "pets", size=16))


def _tiny_spec(name, image_shape, crop_and_flip, available=True):
    """A made-up dataset of 20 images, as a contributor would add one."""

    def read(root, split, download):
        if not available:
            raise DatasetUnavailable(f"{name} is not in {root}: put it there.")
        return torch.full((20, *image_shape), 7, dtype=torch.uint8), torch.arange(20) % 2

    def draw(labels, generator):
        return torch.randint(0, 256, (len(labels), *image_shape), generator=generator, dtype=torch.uint8)

    return DatasetSpec(name, ("odd", "even"), (0.5,) * image_shape[0], (0.25,) * image_shape[0], image_shape,
                       crop_and_flip, read, draw)  # fmt: skip


def test_a_spec_in_the_table_is_all_a_new_dataset_needs(monkeypatch, capsys):
    from utils.training.__main__ import load_splits, parse_args

    # Grey 8x8 images that may be flipped, colour 32x32 ones that may not: the opposite of the shape rule.
    monkeypatch.setitem(DATASETS, "flippable", _tiny_spec("flippable", (1, 8, 8), crop_and_flip=True))
    monkeypatch.setitem(DATASETS, "rigid", _tiny_spec("rigid", (3, 32, 32), crop_and_flip=False, available=False))
    flippable = load_dataset("flippable", "test")
    assert isinstance(flippable, ImageData) and flippable.classes == ["odd", "even"] and len(flippable) == 20
    assert default_augment(flippable) and default_augment(pad_to_size(flippable, 32))
    with pytest.warns(SyntheticDataWarning, match="rigid"):
        rigid = load_dataset("rigid", "train")  # its reader finds nothing: its own drawing stands in
    assert rigid.synthetic and rigid.image_shape == (3, 32, 32) and not default_augment(rigid)

    # The command line takes both by name and lists them.
    train, test = load_splits("flippable", require_real=True, seed=0)
    assert (train.split, test.split, train.name) == ("train", "test", "flippable")
    with pytest.raises(SystemExit, match="cifar10, flippable, rigid, or a folder"):
        load_splits("no-such-dataset", require_real=True, seed=0)
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    assert "mnist, cifar10, flippable, rigid, or a folder" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(ValueError, match="mnist, cifar10, flippable, rigid"):
        load_dataset("imagenet")


# ---- your own images --------------------------------------------------------------------------------------


def _write_image_folder(root, sizes_per_class):
    from PIL import Image

    for class_name, sizes in sizes_per_class.items():
        (root / class_name).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            pixels = torch.randint(0, 256, (h, w, 3), dtype=torch.uint8).numpy()
            Image.fromarray(pixels).save(root / class_name / f"{i}.png")


def test_image_folder_is_resized_and_labelled_by_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_COURSE_CACHE", str(tmp_path / "cache"))
    _write_image_folder(tmp_path / "pets", {"dog": [(40, 50), (20, 20)], "cat": [(64, 64)]})
    pets = load_image_folder(tmp_path / "pets", size=16)
    assert pets.images.shape == (3, 3, 16, 16)
    assert pets.classes == ["cat", "dog"]  # sorted folder names, like torchvision's ImageFolder
    assert pets.labels.tolist() == [0, 1, 1]
    assert len(pets.mean) == 3 and all(0 < s for s in pets.std)

    # A new image makes the cache stale: it must be decoded again, not served from the old file.
    _write_image_folder(tmp_path / "pets", {"bird": [(8, 8)]})
    assert load_image_folder(tmp_path / "pets", size=16).classes == ["bird", "cat", "dog"]


def test_image_folder_errors_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="one sub-folder of images per class"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        load_image_folder(tmp_path / "empty")


# ---- offline: no files, no network --------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch):
    """Every attempt to open a network connection fails, as on a machine without network."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network is unreachable (simulated by the test)")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.mark.parametrize("name", DATASETS)
def test_offline_without_files_falls_back_to_a_labelled_synthetic_stand_in(tmp_path, offline, name):
    with pytest.warns(SyntheticDataWarning, match="SYNTHETIC") as caught:
        stand_in = load_dataset(name, "test", root=tmp_path)
    assert len(caught) == 1  # one clear warning, not a flood
    assert offline, "the loader should have tried to download before giving up"
    assert stand_in.synthetic and "synthetic" in repr(stand_in)
    spec = DATASETS[name]
    assert stand_in.image_shape == spec.image_shape and stand_in.num_classes == len(spec.classes)


@pytest.mark.parametrize("name", DATASETS)
def test_offline_asking_for_real_data_is_a_one_line_error(tmp_path, offline, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntheticDataWarning)  # no silent fallback either
        with pytest.raises(DatasetUnavailable) as error:
            load_dataset(name, "train", root=tmp_path, require_real=True)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "CNN_COURSE_DATA" in message


@pytest.mark.parametrize("name", DATASETS)
def test_synthetic_stand_ins_are_learnable(name):
    """Not noise: a tiny CNN trained briefly on a stand-in classifies new stand-in images far above chance."""
    torch.manual_seed(0)
    train = synthetic_dataset(name, "train", size=2_000)
    test = synthetic_dataset(name, "test", size=500)
    classes = train.num_classes
    assert set(train.labels.tolist()) == set(range(classes))
    channels = train.image_shape[0]
    network = torch.nn.Sequential(
        torch.nn.Conv2d(channels, 8, 5, stride=2, padding=2), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveMaxPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(32, classes),
    )  # fmt: skip
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-3)
    for _ in range(3):
        for x, y in DeviceLoader(train, 64, shuffle=True, device="cpu"):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(network(x), y).backward()
            optimizer.step()
    x, y = next(iter(DeviceLoader(test, 500, device="cpu")))
    accuracy = (network(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.6, f"{name} stand-in: accuracy {accuracy:.2f} after 3 epochs (chance is {1 / classes:.2f})"


# ---- the device-resident loader ------------------------------------------------------------------------


def _pixels_back(loader, x):
    """Undo the loader's normalisation: float batch -> the uint8 pixels it came from."""
    return (((x * loader.std) + loader.mean) * 255).round().to(torch.uint8)


def test_loader_batches_cover_the_split_once(cifar_test):
    data = cifar_test.subset(1_000)
    loader = DeviceLoader(data, 300, shuffle=True, device="cpu")
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    assert [len(y) for _, y in batches] == [300, 300, 300, 100]
    x, _ = batches[0]
    assert x.dtype == torch.float32 and x.shape == (300, 3, 32, 32)
    labels = torch.cat([y for _, y in batches])
    assert torch.equal(labels.sort().values, data.labels.sort().values)  # a permutation, nothing lost
    assert len(DeviceLoader(data, 300, drop_last=True, device="cpu")) == 3


def test_loader_without_augmentation_returns_the_normalised_pixels(cifar_test):
    data = cifar_test.subset(256)
    loader = DeviceLoader(data, 256, device="cpu")
    x, y = next(iter(loader))
    assert torch.equal(_pixels_back(loader, x), data.images) and torch.equal(y, data.labels)
    # Normalised with the dataset's statistics: the batch mean per channel sits near zero.
    assert x.mean(dim=(0, 2, 3)).abs().max() < 0.15


def test_crops_and_flips_really_happen_and_are_reproducible(cifar_test):
    data = cifar_test.subset(512)
    padding = 4
    loader = DeviceLoader(data, 512, crop_padding=padding, flip=True, seed=7, device="cpu")
    x, _ = next(iter(loader))
    out = _pixels_back(loader, x)
    padded = torch.nn.functional.pad(data.images, (padding,) * 4)

    # Every output must be one of the 2 * 9 * 9 windows of its padded source, flipped or not.
    seen = set()
    for i in range(len(out)):
        match = None
        for flipped in (False, True):
            target = out[i].flip(2) if flipped else out[i]
            for top in range(2 * padding + 1):
                for left in range(2 * padding + 1):
                    if torch.equal(padded[i, :, top : top + 32, left : left + 32], target):
                        match = (flipped, top, left)
                        break
                if match:
                    break
            if match:
                break
        assert match is not None, f"image {i} is not a crop (or flipped crop) of its source"
        seen.add(match)
    assert {flipped for flipped, _, _ in seen} == {False, True}  # both flipped and unflipped images
    assert len({(top, left) for _, top, left in seen}) > 40  # many different offsets, not one

    again = DeviceLoader(data, 512, crop_padding=padding, flip=True, seed=7, device="cpu")
    assert torch.equal(next(iter(again))[0], x)  # same seed, same batch
    other = DeviceLoader(data, 512, crop_padding=padding, flip=True, seed=8, device="cpu")
    assert not torch.equal(next(iter(other))[0], x)


def test_each_epoch_has_a_new_order_and_set_epoch_replays_one(cifar_test):
    data = cifar_test.subset(200)
    loader = DeviceLoader(data, 200, shuffle=True, device="cpu")
    first, second = [next(iter(loader))[1] for _ in range(2)]
    assert not torch.equal(first, second)
    loader.set_epoch(0)
    assert torch.equal(next(iter(loader))[1], first)


def test_ranks_get_disjoint_equal_shards(cifar_test):
    data = cifar_test.subset(101)
    data.labels = torch.arange(101)  # label = index, so shards can be compared by label
    shards = [
        torch.cat([y for _, y in DeviceLoader(data, 16, shuffle=True, rank=r, world_size=2, device="cpu")])
        for r in range(2)
    ]
    assert len(shards[0]) == len(shards[1]) == 50
    assert not set(shards[0].tolist()) & set(shards[1].tolist())
    with pytest.raises(ValueError, match="rank"):
        DeviceLoader(data, 16, rank=2, world_size=2, device="cpu")
