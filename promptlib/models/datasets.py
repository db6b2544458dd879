from django.db import models


class Dataset(models.Model):
    """A named set of test cases (inputs and what a good answer looks like) in one project."""

    project_path = "project"  # ORM path to the owning Project, used for scoping

    project = models.ForeignKey("promptlib.Project", on_delete=models.CASCADE, related_name="datasets")
    name = models.SlugField(max_length=120, help_text="A short name, e.g. support-tickets.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="uniq_dataset_name_per_project")]

    def __str__(self) -> str:
        return self.name


class DatasetCase(models.Model):
    """One case: the template variables, and optionally the expected output or fields."""

    project_path = "dataset__project"  # ORM path to the owning Project, used for scoping

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="cases")
    # 1, 2, 3… in import order; stable so that exports and reports list cases the same way.
    position = models.PositiveIntegerField()
    input = models.JSONField(default=dict, help_text='Template variables, e.g. {"ticket": "…"}.')
    expected_output = models.TextField(blank=True)
    expected_fields = models.JSONField(
        default=dict, blank=True, help_text='Fields the answer must contain, e.g. {"category": "billing"}.'
    )
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["dataset", "position"]
        constraints = [models.UniqueConstraint(fields=["dataset", "position"], name="uniq_case_position")]

    def __str__(self) -> str:
        return f"{self.dataset.name} #{self.position}"
