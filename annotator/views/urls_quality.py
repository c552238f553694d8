from django.urls import path

from annotator.views.quality import review_page

urlpatterns = [
    path("campaigns/<int:campaign_id>/review/", review_page, name="review"),
]
