"""The annotation API: next task, assignment, draft, skip, submit (one thin view per operation).

Every view works on the caller's own assignments only: another user's
assignment answers 404 whatever the caller's role (inspectors and researchers
review through their own endpoints, not these).
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.serializers import (
    AssignmentEnvelopeSerializer, DraftInputSerializer, DraftOutputSerializer, ErrorSerializer,
    SkipInputSerializer, SkipOutputSerializer, SubmitInputSerializer, SubmitOutputSerializer,
    TaskNextInputSerializer,
)
from annotator.errors import ApplicationError
from annotator.roles import user_role
from annotator.selectors.assignments import assignment_get_own, assignment_payload
from annotator.services.assignments import assignment_draft_save, assignment_skip, assignment_submit
from annotator.services.next_task import campaign_for_next, task_next

TAGS = ["annotation"]
REFUSALS = {
    400: OpenApiResponse(ErrorSerializer, description="A field broke a rule (extra.field, extra.rule)."),
    404: OpenApiResponse(ErrorSerializer, description="Not found, or not yours."),
    409: OpenApiResponse(ErrorSerializer, description="Not possible in the current state (extra.reason)."),
}


class HasRole(permissions.BasePermission):
    """Signed in and holding a role (annotator, inspector or researcher)."""

    message = "You have no role in this platform; ask a researcher to add you."

    def has_permission(self, request: Request, view) -> bool:
        return user_role(request.user) is not None


_LEASE_FIELD = serializers.DateTimeField()


def _envelope(assignment) -> dict:
    """``AssignmentEnvelopeSerializer``'s output without running it field by field.

    The payload is already plain JSON but for the lease's datetime, which gets
    the serializer's own formatting; ``test_envelope_matches_its_serializer``
    keeps the two equal, the serializer stays the schema.
    """
    payload = assignment_payload(assignment=assignment)
    payload["lease_expires_at"] = _LEASE_FIELD.to_representation(payload["lease_expires_at"])
    return {"assignment": payload}


class TaskNextApi(APIView):
    permission_classes = [permissions.IsAuthenticated, HasRole]

    @extend_schema(
        tags=TAGS, operation_id="tasks_next", request=TaskNextInputSerializer,
        responses={200: AssignmentEnvelopeSerializer, 204: OpenApiResponse(description="Nothing left for you."),
                   **REFUSALS},
        description="Your live assignment in the campaign, or a new one; 204 when nothing is left for you.",
    )
    def post(self, request: Request) -> Response:
        data = TaskNextInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = campaign_for_next(campaign_id=data.validated_data["campaign"])
        if campaign is None:
            raise ApplicationError("No such campaign.", field="campaign", rule="not_found", status_code=404)
        assignment = task_next(campaign=campaign, annotator=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_envelope(assignment))


class AssignmentDetailApi(APIView):
    permission_classes = [permissions.IsAuthenticated, HasRole]

    @extend_schema(tags=TAGS, operation_id="assignments_retrieve",
                   responses={200: AssignmentEnvelopeSerializer, 404: REFUSALS[404]})
    def get(self, request: Request, assignment_id: int) -> Response:
        assignment = assignment_get_own(assignment_id=assignment_id, annotator=request.user)
        return Response(_envelope(assignment))


class AssignmentDraftApi(APIView):
    permission_classes = [permissions.IsAuthenticated, HasRole]

    @extend_schema(tags=TAGS, operation_id="assignments_draft", request=DraftInputSerializer,
                   responses={200: DraftOutputSerializer, **REFUSALS},
                   description="Keep unsent answers (not validated, at most 256 KB).")
    def put(self, request: Request, assignment_id: int) -> Response:
        data = DraftInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        saved_at = assignment_draft_save(assignment_id=assignment_id, annotator=request.user,
                                         responses=data.validated_data["responses"],
                                         active_ms=data.validated_data["active_ms"])
        return Response(DraftOutputSerializer({"saved_at": saved_at}).data)


class AssignmentSkipApi(APIView):
    permission_classes = [permissions.IsAuthenticated, HasRole]

    @extend_schema(tags=TAGS, operation_id="assignments_skip", request=SkipInputSerializer,
                   responses={200: SkipOutputSerializer, **REFUSALS})
    def post(self, request: Request, assignment_id: int) -> Response:
        data = SkipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = assignment_skip(assignment_id=assignment_id, annotator=request.user,
                                     reason=data.validated_data["reason"])
        return Response(SkipOutputSerializer({"assignment": assignment.pk, "status": assignment.status,
                                              "reason": assignment.skip_reason}).data)


class AssignmentSubmitApi(APIView):
    permission_classes = [permissions.IsAuthenticated, HasRole]

    @extend_schema(
        tags=TAGS, operation_id="assignments_submit", request=SubmitInputSerializer,
        responses={201: SubmitOutputSerializer,
                   200: OpenApiResponse(SubmitOutputSerializer, description="A repeat of an accepted submission."),
                   **REFUSALS},
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        data = SubmitInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body, created = assignment_submit(
            assignment_id=assignment_id, annotator=request.user,
            submission_id=data.validated_data["submission_id"], responses=data.validated_data["responses"],
            active_ms=data.validated_data["active_ms"],
        )
        # ``body`` is already what SubmitOutputSerializer (the schema) would give: plain JSON, the id a string
        # (``test_submit_body_matches_its_serializer``). Running it field by field cost a hot path's CPU.
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
