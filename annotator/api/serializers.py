"""Input and output serializers of the annotation API (also the OpenAPI schema)."""
from __future__ import annotations

from rest_framework import serializers


class ErrorExtraSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="The refused field, e.g. responses.overall.value.")
    rule = serializers.CharField(allow_null=True, help_text="The rule it broke, e.g. range, required.")
    reason = serializers.CharField(required=False, help_text="For 409: why the operation cannot happen now.")


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    extra = ErrorExtraSerializer()


# --- next task / assignment payload -------------------------------------------------------------

class TaskNextInputSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(min_value=1)


class ImageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()


class PromptTokenSerializer(serializers.Serializer):
    text = serializers.CharField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()


class PromptOutputSerializer(serializers.Serializer):
    text = serializers.CharField()
    tokens = PromptTokenSerializer(many=True)


class TargetOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=["item", "group", "pair", "prompt"])
    images = ImageOutputSerializer(many=True, help_text="Display order; a pair's sides are random per assignment.")
    prompt = PromptOutputSerializer()


class AttributeOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    kind = serializers.CharField()
    question = serializers.CharField()
    options = serializers.ListField(child=serializers.CharField(), help_text="Options, point labels or sxs choices.")
    points = serializers.IntegerField(allow_null=True, help_text="Likert points.")
    anchors = serializers.ListField(child=serializers.CharField())
    config = serializers.DictField()
    category = serializers.CharField()
    required = serializers.BooleanField()


class AssignmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = serializers.IntegerField()
    status = serializers.CharField()
    target = TargetOutputSerializer()
    attributes = AttributeOutputSerializer(many=True)
    lease_expires_at = serializers.DateTimeField()
    draft = serializers.JSONField()
    ratings = serializers.DictField(child=serializers.IntegerField(),
                                    help_text="Ranking tasks: your ratings {image id: k} of the group's images.")
    point_radius_frac = serializers.FloatField()
    instructions_html = serializers.CharField()


class AssignmentEnvelopeSerializer(serializers.Serializer):
    assignment = AssignmentOutputSerializer()


# --- draft, skip, submit -----------------------------------------------------------------------

class DraftInputSerializer(serializers.Serializer):
    responses = serializers.JSONField(default=dict)
    active_ms = serializers.JSONField(default=dict)


class DraftOutputSerializer(serializers.Serializer):
    saved_at = serializers.DateTimeField()


class SkipInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, allow_blank=True, default="")


class SkipOutputSerializer(serializers.Serializer):
    assignment = serializers.IntegerField()
    status = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)


class SubmitInputSerializer(serializers.Serializer):
    submission_id = serializers.UUIDField(help_text="Made by the client once per submission; a repeat is answered "
                                                    "with the first result.")
    responses = serializers.JSONField(help_text="{attribute key: value}, value shapes as in DESIGN §4.")
    active_ms = serializers.JSONField(default=dict, help_text="{attribute key: active milliseconds}.")


class SavedResponseSerializer(serializers.Serializer):
    attribute = serializers.CharField()
    value = serializers.JSONField()
    active_ms = serializers.IntegerField(allow_null=True)


class SubmitOutputSerializer(serializers.Serializer):
    assignment = serializers.IntegerField()
    submission_id = serializers.UUIDField()
    responses = SavedResponseSerializer(many=True)
