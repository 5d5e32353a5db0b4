from typing import TYPE_CHECKING

from django.contrib import admin

from posts.models import Post

if TYPE_CHECKING:
    _PostAdmin = admin.ModelAdmin[Post]
else:  # Django's admin classes take no type argument at run time
    _PostAdmin = admin.ModelAdmin


@admin.register(Post)
class PostAdmin(_PostAdmin):
    list_display = ("title", "author", "category", "status", "created_at")
    list_filter = ("status", "category")
    search_fields = ("title", "body")
    raw_id_fields = ("author",)
    list_select_related = ("author",)
