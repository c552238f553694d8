from django.urls import path

from annotator.api.quality import ReviewQueueApi, ReviewSubmitApi

urlpatterns = [
    path("campaigns/<int:campaign_id>/review-queue", ReviewQueueApi.as_view(), name="api-review-queue"),
    path("assignments/<int:assignment_id>/review", ReviewSubmitApi.as_view(), name="api-review-submit"),
]
