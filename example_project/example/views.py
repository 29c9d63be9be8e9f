from django.shortcuts import render

from example.models import Document, Photo


def index(request):
    return render(
        request,
        "example/index.html",
        {"documents": Document.objects.all()[:50], "photos": Photo.objects.all()[:50]},
    )
