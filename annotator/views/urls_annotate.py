from django.urls import path

from annotator.views import annotate

urlpatterns = [
    path("", annotate.home, name="home"),
    path("campaigns/<int:campaign_id>/", annotate.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:campaign_id>/annotate/", annotate.annotate, name="annotate"),
]
