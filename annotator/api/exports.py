"""Export API: start a dataset export, follow it, download it (researchers only).

Annotators and inspectors get 403; an export of another campaign reads as 404.
"""
from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.api.serializers import ErrorSerializer
from annotator.exporters import exporter_names
from annotator.models import Campaign, ExportJob
from annotator.roles import is_researcher
from annotator.services.exports import export_job_archive, export_job_create

TAGS = ["export"]


class IsResearcher(permissions.BasePermission):
    message = "Only researchers export datasets."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and is_researcher(request.user))


class ExportJobOutputSerializer(serializers.ModelSerializer):
    download = serializers.SerializerMethodField(help_text="The zip of the export, once status is done.")

    class Meta:
        model = ExportJob
        fields = ["id", "campaign", "status", "progress", "phase", "formats", "error", "created_at", "finished_at",
                  "manifest", "download"]

    def get_download(self, job: ExportJob) -> str | None:
        if job.status != ExportJob.Status.DONE:
            return None
        path = reverse("api-export-download", kwargs={"campaign_id": job.campaign_id, "export_id": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ExportStartedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    progress = serializers.FloatField()


def _job(campaign_id: int, export_id) -> ExportJob:
    return get_object_or_404(ExportJob.objects.select_related("campaign"), pk=export_id, campaign_id=campaign_id)


class ExportCreateInputSerializer(serializers.Serializer):
    formats = serializers.ListField(
        child=serializers.CharField(), required=False, allow_empty=True,
        help_text="Any of jsonl, parquet, heatmaps, pairs; none or empty: all. manifest.json is always written.")


class ExportCreateApi(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(tags=TAGS, operation_id="exports_create", request=ExportCreateInputSerializer,
                   responses={202: ExportStartedSerializer, 400: ErrorSerializer, 403: ErrorSerializer,
                              404: ErrorSerializer},
                   description=f"Queue an export of the campaign. Formats: {', '.join(exporter_names())}.")
    def post(self, request: Request, campaign_id: int) -> Response:
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        data = ExportCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = export_job_create(campaign=campaign, formats=data.validated_data.get("formats"),
                                requested_by=request.user)
        return Response(ExportStartedSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(tags=TAGS, operation_id="exports_retrieve",
                   responses={200: ExportJobOutputSerializer, 403: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, campaign_id: int, export_id) -> Response:
        job = _job(campaign_id, export_id)
        return Response(ExportJobOutputSerializer(job, context={"request": request}).data)


class ExportDownloadApi(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(tags=TAGS, operation_id="exports_download",
                   responses={(200, "application/zip"): OpenApiResponse(description="The export as a zip."),
                              403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer})
    def get(self, request: Request, campaign_id: int, export_id) -> FileResponse:
        job = _job(campaign_id, export_id)
        archive = export_job_archive(job=job)
        name = f"{job.campaign.name}-export-{job.pk}.zip".replace("/", "_")
        return FileResponse(archive.open("rb"), as_attachment=True, filename=name, content_type="application/zip")
