"""Export API routes."""
from django.urls import path

from annotator.api.exports import ExportCreateApi, ExportDetailApi, ExportDownloadApi

urlpatterns = [
    path("campaigns/<int:campaign_id>/exports", ExportCreateApi.as_view(), name="api-exports"),
    path("campaigns/<int:campaign_id>/exports/<uuid:export_id>", ExportDetailApi.as_view(), name="api-export"),
    path("campaigns/<int:campaign_id>/exports/<uuid:export_id>/download", ExportDownloadApi.as_view(),
         name="api-export-download"),
]
