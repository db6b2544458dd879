"""AI graders read strictly and checked against reviewers, and review time in the cost: per call, how many
grader replies could not be read (and its sums in the rollups) and whether it was sent to the review queue
to calibrate a grader; per project, the reviewer hourly rate and the agreement a grader needs."""

import django.core.validators
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('promptlib', '0014_dataset_versions'),
    ]

    operations = [
        migrations.AddField(
            model_name='batchcasesummary',
            name='judge_unread',
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='batchitem',
            name='judge_unread',
            field=models.PositiveSmallIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='batchitem',
            name='review_requested',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name='batchvariantsummary',
            name='judge_unread',
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='project',
            name='judge_kappa_min',
            field=models.FloatField(default=0.6, help_text="How closely an AI grader must agree with your reviewers (Cohen's kappa, 0 to 1) to be trusted; below it the experiment page flags the grader. 0.6 is the usual bar for good agreement.", validators=[django.core.validators.MinValueValidator(0.0), django.core.validators.MaxValueValidator(1.0)], verbose_name='agreement an AI grader needs'),
        ),
        migrations.AddField(
            model_name='project',
            name='reviewer_hourly_usd',
            field=models.DecimalField(decimal_places=2, default=Decimal('0'), help_text='What an hour of reviewing costs you, e.g. 40. Review time then counts in the cost per successful answer. 0 leaves review time out of the cost.', max_digits=8, validators=[django.core.validators.MinValueValidator(Decimal('0'))], verbose_name='reviewer hourly rate (USD)'),
        ),
        migrations.AddIndex(
            model_name='batchitem',
            index=models.Index(condition=models.Q(('review_requested', True)), fields=['batch'], name='batchitem_review_requested'),
        ),
    ]
