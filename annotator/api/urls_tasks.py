"""Annotation API routes (the public contract: scripts and load tests use these paths)."""
from django.urls import path

from annotator.api.tasks import (
    AssignmentDetailApi, AssignmentDraftApi, AssignmentSkipApi, AssignmentSubmitApi, TaskNextApi,
)

urlpatterns = [
    path("tasks/next", TaskNextApi.as_view(), name="api-tasks-next"),
    path("assignments/<int:assignment_id>", AssignmentDetailApi.as_view(), name="api-assignment"),
    path("assignments/<int:assignment_id>/draft", AssignmentDraftApi.as_view(), name="api-assignment-draft"),
    path("assignments/<int:assignment_id>/skip", AssignmentSkipApi.as_view(), name="api-assignment-skip"),
    path("assignments/<int:assignment_id>/submit", AssignmentSubmitApi.as_view(), name="api-assignment-submit"),
]
