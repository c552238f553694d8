"""Scoring API: ``POST /api/score`` (multipart: image, prompt, optional campaign).

Any authenticated user (session with CSRF, or token). Bad images are refused
as import refuses them (400, field ``image``, the rule of
``annotator.images.image_validate``); a missing prompt is 400 field
``prompt`` rule ``required``; without an active concept-bottleneck model 409
rule ``no_model``.
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.serializers import ErrorSerializer
from annotator.models import Campaign
from rewardlab.selectors.scoring import reward_score

TAGS = ["reward models"]


class ScoreApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        image = serializers.FileField(help_text="PNG, JPEG or WEBP.")
        prompt = serializers.CharField(allow_blank=True, max_length=5000)
        campaign = serializers.PrimaryKeyRelatedField(
            queryset=Campaign.objects.all(), required=False, allow_null=True,
            help_text="Score with this campaign's active model (default: the newest active model).")

        def validate_prompt(self, value: str) -> str:
            if not value.strip():
                raise serializers.ValidationError("This field is required.", code="required")
            return value

    class OutputSerializer(serializers.Serializer):
        reward = serializers.FloatField(help_text="Aggregator logit: higher is better.")
        probability = serializers.FloatField(help_text="P(good) under the model.")
        attributes = serializers.DictField(child=serializers.FloatField(), help_text="Concept key -> probability.")
        model_version = serializers.IntegerField()
        campaign = serializers.IntegerField()

    @extend_schema(tags=TAGS, operation_id="score", request={"multipart/form-data": InputSerializer},
                   responses={200: OutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer,
                              409: ErrorSerializer},
                   description="Score one image for one prompt with the active concept-bottleneck reward model.")
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["image"]
        result = reward_score(data=upload.read(), name=upload.name or "image", prompt=data.validated_data["prompt"],
                              campaign=data.validated_data.get("campaign"))
        return Response(self.OutputSerializer(result).data)
