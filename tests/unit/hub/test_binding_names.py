"""One binding per workload: the API group is part of the binding's name and label."""

from hypothesis import given
from hypothesis import strategies as st

from federation.hub.bindings import TemplateKey

DNS_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


def test_a_batch_job_and_a_volcano_job_of_one_name_do_not_share() -> None:
    batch = TemplateKey("batch/v1", "Job", "ml", "train")
    volcano = TemplateKey("batch.volcano.sh/v1alpha1", "Job", "ml", "train")
    assert batch.binding_name == "train-job"  # built-in groups keep the short name
    assert volcano.binding_name == "train-job.batch.volcano.sh"
    assert batch.label != volcano.label
    assert volcano.legacy_binding_name == "train-job"


def test_adoption_keeps_the_older_label_and_checks_the_group() -> None:
    key = TemplateKey("kubeflow.org/v1", "PyTorchJob", "ml", "train")
    legacy = {"metadata": {"name": "train-pytorchjob",
                           "labels": {"fedctl.dev/binding": "ml.train-pytorchjob"}},
              "spec": {"resource": {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                                    "namespace": "ml", "name": "train"}}}
    adopted = key.with_binding(legacy)
    assert adopted.label == "ml.train-pytorchjob" and adopted == key
    assert key.owns(legacy)
    batch = TemplateKey("batch/v1", "Job", "ml", "train")
    volcano = TemplateKey("batch.volcano.sh/v1alpha1", "Job", "ml", "train")
    batch_binding = {"spec": {"resource": {"apiVersion": "batch/v1", "kind": "Job",
                                           "namespace": "ml", "name": "train"}}}
    assert batch.owns(batch_binding) and not volcano.owns(batch_binding)
    assert key.with_binding(None) is key


@given(DNS_LABEL, st.sampled_from(["Job", "PyTorchJob", "Deployment", "InferenceService"]),
       st.sampled_from(["batch/v1", "apps/v1", "v1", "kubeflow.org/v1",
                        "serving.kserve.io/v1beta1", "a-very-long-group.example.com/v1"]),
       st.integers(min_value=0, max_value=60))
def test_names_are_valid_and_short(name: str, kind: str, api_version: str, pad: int) -> None:
    key = TemplateKey(api_version, kind, "some-namespace", name + "x" * pad)
    bn = key.binding_name
    assert len(bn) <= 63 and bn[0].isalnum() and bn[-1].isalnum()
    assert ".-" not in bn  # no DNS label starts with a hyphen
    assert len(key.label) <= 63
