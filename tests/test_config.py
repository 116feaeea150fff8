"""The recipe loader is strict: unknown keys and wrong types fail loudly, naming the key."""

import pytest

from sightsound.config import ConfigError, Recipe, apply_overrides, dump_yaml, load_recipe, load_yaml


def test_defaults_are_the_papers(tmp_path):
    r = load_recipe()
    assert r.teach.n == 4  # [paper] test-time scaling
    assert r.verify.votes == 1
    assert r.grpo.reward_funcs == ["format", "accuracy"]
    assert r.grpo.beta > 0  # a KL reference is used
    assert r.models.teacher.name_or_path == "Qwen/Qwen2.5-VL-32B-Instruct"
    assert r.models.student.name_or_path == "Qwen/Qwen2-Audio-7B-Instruct"
    assert r.models.teacher.trust_remote_code is False


def test_yaml_and_dotted_overrides(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("teach:\n  n: 8\nmodels:\n  teacher:\n    backend: openai\n")
    r = load_recipe(p, ["teach.temperature=0.7", "grpo.reward_weights=[1, 0.5]", "eval.limit=null"])
    assert r.teach.n == 8 and r.teach.temperature == 0.7
    assert r.models.teacher.backend == "openai"
    assert r.grpo.reward_weights == [1.0, 0.5]
    assert r.eval.limit is None


@pytest.mark.parametrize(
    "override, needle",
    [
        ("teach.nn=3", "teach.nn"),
        ("teach.n=four", "teach.n: expected int"),
        ("teach.n=true", "teach.n: expected int"),
        ("models.teacher.backend=foo", "models.teacher.backend"),
        ("grpo.reward_funcs=format", "grpo.reward_funcs: expected a list"),
        ("nosuchsection.x=1", "nosuchsection"),
        ("teach=3", "teach: expected a mapping"),
    ],
)
def test_bad_overrides_name_the_key(override, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_recipe(None, [override])


def test_override_without_equals_is_an_error():
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides({}, ["teach.n"])


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_yaml(p)
    p.write_text("teach: {n: 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml(p)


def test_dump_round_trips(tmp_path):
    r = load_recipe(None, ["teach.n=6", "sft.lora.r=4"])
    p = tmp_path / "resolved.yaml"
    p.write_text(dump_yaml(r))
    assert load_recipe(p) == r
    assert isinstance(load_recipe(p), Recipe)


def test_exponent_without_a_dot_is_a_float():
    assert load_recipe(None, ["sft.learning_rate=3e-3"]).sft.learning_rate == 0.003
    with pytest.raises(ConfigError, match="sft.learning_rate: expected float"):
        load_recipe(None, ["sft.learning_rate=fast"])
