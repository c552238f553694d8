"""Quality-control API: the inspector's review queue and verdicts (inspectors and researchers only)."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.models import Assignment, Campaign
from annotator.roles import is_inspector
from annotator.services.reviews import review_sample, review_submit


class IsInspector(permissions.BasePermission):
    """Inspectors and researchers; annotators get 403."""

    message = "Only inspectors and researchers review work."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and is_inspector(request.user))


class ReviewQueueApi(APIView):
    permission_classes = [IsInspector]

    class ReviewQueueInputSerializer(serializers.Serializer):
        k = serializers.IntegerField(min_value=1, max_value=200, default=20)

    class ReviewQueueOutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        target = serializers.IntegerField(source="target_id")
        target_type = serializers.CharField(source="target.type")
        annotator = serializers.IntegerField(source="annotator_id")
        submitted_at = serializers.DateTimeField()
        agreement = serializers.FloatField(allow_null=True)
        review_url = serializers.SerializerMethodField()

        def get_review_url(self, obj: Assignment) -> str:
            return f"/campaigns/{obj.campaign_id}/review/?assignment={obj.pk}"

    @extend_schema(parameters=[OpenApiParameter("k", int, description="How many assignments (1-200, default 20).")],
                   responses={200: inline_serializer("ReviewQueuePage", {
                       "results": ReviewQueueOutputSerializer(many=True)})})
    def get(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        params = self.ReviewQueueInputSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        queue = review_sample(campaign=campaign, inspector=request.user, k=params.validated_data["k"])
        return Response({"results": self.ReviewQueueOutputSerializer(queue, many=True).data})


class ReviewSubmitApi(APIView):
    permission_classes = [IsInspector]

    class ReviewInputSerializer(serializers.Serializer):
        verdict = serializers.ChoiceField(choices=["accepted", "invalidated", "accept", "invalidate"])
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    class ReviewOutputSerializer(serializers.Serializer):
        review = serializers.IntegerField(source="pk")
        assignment = serializers.IntegerField(source="assignment_id")
        verdict = serializers.CharField()
        reason = serializers.CharField()
        status = serializers.CharField(source="assignment.status")
        created_at = serializers.DateTimeField()

    @extend_schema(request=ReviewInputSerializer, responses={201: ReviewOutputSerializer})
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = get_object_or_404(Assignment, pk=assignment_id)
        data = self.ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        review = review_submit(assignment=assignment, inspector=request.user, **data.validated_data)
        return Response(self.ReviewOutputSerializer(review).data, status=status.HTTP_201_CREATED)
