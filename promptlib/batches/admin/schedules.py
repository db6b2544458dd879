"""Schedules in the admin: pick a timing in words and your time zone; see next and last run; pause, resume, edit.

The schedule's page (its change view) shows the test run it repeats, when it runs, and a small form
to rename it or change its timing; pausing and deleting say first what will happen.
"""

from __future__ import annotations

import zoneinfo
from datetime import time

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from promptlib.admin.base import ProjectScopedAdmin, form_error_add, project_ids_for, user_may
from promptlib.batches.admin.forms import BatchSettingsForm
from promptlib.batches.models import BatchSchedule
from promptlib.batches.schedules import (
    REPEATS,
    WEEKDAYS,
    ScheduleTiming,
    batch_schedule_create,
    batch_schedule_delete,
    batch_schedule_pause,
    batch_schedule_resume,
    batch_schedule_state,
    batch_schedule_update,
)
from promptlib.batches.selectors import ref_id
from promptlib.batches.services import BatchError
from promptlib.core.models import Role

SCHEDULE_INTRO = (
    "A schedule starts the same test run again and again, e.g. every night, so you notice when the AI "
    "model starts answering differently. Fill in the test run, then when it should repeat. It stops by "
    "itself when the experiment finishes."
)
ZONES = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})


class ScheduleTimingForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="e.g. “Nightly triage check”.")
    repeat = forms.ChoiceField(choices=list(REPEATS.items()), initial="daily", label="How often")
    at = forms.TimeField(
        initial=time(9, 0),
        label="At",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="The time of day (for “Every hour”: the minute past each hour).",
    )
    weekday = forms.TypedChoiceField(
        choices=WEEKDAYS, coerce=int, initial=1, label="On", help_text="The day, for “Every week”."
    )
    timezone = forms.ChoiceField(
        choices=[(z, z.replace("_", " ")) for z in ZONES],
        initial="UTC",
        label="Time zone",
        help_text="Filled in from your computer's clock; times are in this zone.",
    )

    def timing(self) -> ScheduleTiming:
        data = self.cleaned_data
        return ScheduleTiming(repeat=data["repeat"], at=data["at"], weekday=data["weekday"], timezone=data["timezone"])


class ScheduleForm(ScheduleTimingForm, BatchSettingsForm):
    field_order = ["name", "experiment", "dataset", "provider", "model", "repeats", "tags", "use_cache"]


def _project_ids(request) -> list[int] | None:
    return None if request.user.is_superuser else project_ids_for(request, Role.EDITOR)


@admin.register(BatchSchedule)
class BatchScheduleAdmin(ProjectScopedAdmin):
    empty_help = (
        "No schedules yet. “Schedule a batch” repeats a test run by itself (e.g. every night), so a "
        "change in the AI model's answers shows up."
    )
    list_display = ("name", "experiment", "dataset", "timing", "status", "next_run", "last_run", "run_count")
    list_select_related = ("experiment", "dataset", "periodic_task__crontab", "periodic_task__interval")
    change_list_template = "admin/promptlib/batch/schedule_change_list.html"
    delete_confirmation_template = "admin/promptlib/batch/schedule_delete_confirmation.html"
    delete_role = Role.EDITOR  # who may start a schedule may stop it; its batches stay

    def has_add_permission(self, request):
        return False  # "Schedule a batch" (new/) asks for the test run and the timing together

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(run_total=Count("runs"))

    def _state(self, obj):
        cached = getattr(obj, "_state_cache", None)
        if cached is None:
            cached = obj._state_cache = batch_schedule_state(schedule=obj)
        return cached

    @admin.display(description="When")
    def timing(self, obj):
        return self._state(obj).when

    @admin.display(description="Status")
    def status(self, obj):
        return self._state(obj).text

    @admin.display(description="Next run")
    def next_run(self, obj):
        return _when(self._state(obj).next_run, self._state(obj).timing)

    @admin.display(description="Last run")
    def last_run(self, obj):
        return _when(self._state(obj).last_run, self._state(obj).timing)

    @admin.display(description="Runs", ordering="run_total")
    def run_count(self, obj):
        return obj.run_total

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("new/", wrap(self.schedule_view), name="promptlib_batchschedule_new"), *super().get_urls()]

    def delete_model(self, request, obj):
        batch_schedule_delete(schedule=obj)

    def delete_view(self, request, object_id, extra_context=None):
        extra = {
            "consequence": "No new batch will start from this schedule. The batches it already ran, and their "
            "results, stay."
        }
        return super().delete_view(request, object_id, {**(extra_context or {}), **extra})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        schedule = self.scoped_object_or_404(request, object_id)
        may_edit = user_may(request, Role.EDITOR, schedule.project_id)
        state = batch_schedule_state(schedule=schedule)
        initial = {"name": schedule.name}
        if state.timing is not None:
            timing = state.timing
            initial.update(repeat=timing.repeat, at=timing.at, weekday=timing.weekday, timezone=timing.timezone)
        form = ScheduleTimingForm(request.POST or None, initial=initial)
        if request.method == "POST":
            if not may_edit:
                raise PermissionDenied
            done = self._change_post(request, schedule, form, state)
            if done is not None:
                return done
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": schedule,
            "title": schedule.name,
            "schedule": schedule,
            "state": state,
            "next_run": _when(state.next_run, state.timing),
            "last_run": _when(state.last_run, state.timing),
            "runs": schedule.runs.order_by("-created_at")[:10],
            "form": form,
            "may_edit": may_edit,
            "has_delete_permission": self.has_delete_permission(request, schedule),
        }
        return TemplateResponse(request, "admin/promptlib/batch/schedule.html", context)

    def _change_post(self, request, schedule, form, state):
        here = reverse("admin:promptlib_batchschedule_change", args=[schedule.pk])
        action = request.POST.get("action", "save")
        try:
            if action == "pause":
                if request.POST.get("confirmed") != "on":
                    return self._pause_confirm(request, schedule, state)
                batch_schedule_pause(schedule=schedule)
                self.message_user(request, f"“{schedule.name}” is paused; no batch starts until you resume it.")
                return redirect(here)
            if action == "resume":
                batch_schedule_resume(schedule=schedule)
                self.message_user(request, f"“{schedule.name}” runs again.", messages.SUCCESS)
                return redirect(here)
            if form.is_valid():
                batch_schedule_update(schedule=schedule, name=form.cleaned_data["name"], timing=form.timing())
                self.message_user(request, "Schedule saved.", messages.SUCCESS)
                return redirect(here)
        except BatchError as exc:
            if action == "save":
                form_error_add(form, exc)
            else:
                self.message_user(request, exc.message, messages.ERROR)
                return redirect(here)
        return None

    def _pause_confirm(self, request, schedule, state):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": schedule,
            "title": f"Pause “{schedule.name}”?",
            "consequence": "No batch starts until you resume it (the next run would be "
            f"{_when(state.next_run, state.timing)}). Nothing is deleted.",
            "button": "Yes, pause it",
            "fields": {"action": "pause"},
            "cancel_url": reverse("admin:promptlib_batchschedule_change", args=[schedule.pk]),
        }
        return TemplateResponse(request, "admin/promptlib/confirm.html", context)

    def schedule_view(self, request):
        if not user_may(request, Role.EDITOR):
            raise PermissionDenied
        initial = {"experiment": ref_id(request.GET["experiment"])} if ref_id(request.GET.get("experiment", "")) else {}
        form = ScheduleForm(request.POST or None, initial=initial, project_ids=_project_ids(request))
        if not form.is_bound:  # schedule_form.js puts the browser's time zone in
            form.fields["timezone"].widget.attrs["data-detect"] = "1"
        if request.method == "POST" and form.is_valid():
            data = form.settings()
            if not user_may(request, Role.EDITOR, data.experiment.project_id):
                raise PermissionDenied
            try:
                schedule = batch_schedule_create(
                    settings=data, name=form.cleaned_data["name"], timing=form.timing(), created_by=request.user
                )
            except BatchError as exc:
                form_error_add(form, exc)
            else:
                state = batch_schedule_state(schedule=schedule)
                self.message_user(
                    request, f"Schedule saved: {state.when}. Next run: {_when(state.next_run, state.timing)}.",
                    messages.SUCCESS,
                )  # fmt: skip
                return redirect(reverse("admin:promptlib_batchschedule_changelist"))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "title": "Schedule a batch", "intro": SCHEDULE_INTRO}  # fmt: skip
        return TemplateResponse(request, "admin/promptlib/batch/schedule_new.html", context)


def _when(moment, timing: ScheduleTiming | None) -> str:
    """A run's time in the schedule's own time zone, e.g. "Mon 30 Nov, 09:00"; "—" when there is none."""
    if moment is None:
        return "—"
    zone = zoneinfo.ZoneInfo(timing.timezone if timing else "UTC")
    return moment.astimezone(zone).strftime("%a %-d %b, %H:%M") + ("" if timing else " UTC")
